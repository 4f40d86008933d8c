"""Multi-task learning pipeline on TFX 1.16 (Python 3.10). Dependencies are pinned in requirements.lock."""
from setuptools import find_packages, setup

setup(
    name="tfx-mtl",
    version="0.1.0",
    description="Multi-task learning on TFX: one YAML config -> validated data, TFT, multi-task Keras, "
                "per-task TFMA gates, TF Serving model",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["pipeline", "pipeline.*", "components", "components.*", "trainer",
                                    "trainer.*", "serving", "serving.*"]),
    install_requires=[
        "tfx==1.16.0",
        "apache-beam[gcp]==2.59.0",
        "tensorflow-serving-api==2.16.1",
        "tornado",  # mtl serve's REST server
        "dill",
        "pydantic>=2",
        "pyyaml",
        "click",
        "matplotlib",  # report plots
        "jinja2",  # report HTML
    ],
    package_data={"pipeline.report": ["templates/*.j2"]},
    extras_require={
        # Compiling for an orchestrator (`mtl compile`); pinned versions are in requirements-test.lock.
        "kubeflow": ["kfp-pipeline-spec>=0.2.2,<0.3"],
        "airflow": ["apache-airflow>=2.7,<3"],  # not [mysql]: mysqlclient needs a C toolchain and is optional
        "test": ["pytest", "hypothesis"],
    },
    entry_points={"console_scripts": ["mtl=pipeline.cli:main"]},
)
