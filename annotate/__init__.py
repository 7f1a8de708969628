"""The annotation studio: a local web app to paint label masks on sampled images (``datasetgan
annotate RUN_FOLDER``), driven by the interpreter's uncertainty, and importers for masks made in
other tools (``datasetgan import-masks``). No Prefect; the front end ships in ``static/``."""
