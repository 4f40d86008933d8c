"""Thin runners: each turns `create_pipeline(...)` into a run or a compiled artifact for one orchestrator."""
