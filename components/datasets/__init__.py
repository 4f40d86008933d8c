"""Dataset preparation: download public data sets and convert them to headered CSV for ExampleGen."""
