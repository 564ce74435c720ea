"""Kedro pipelines, one package per stage (a verb): ingest, prepare, build, train, evaluate."""
