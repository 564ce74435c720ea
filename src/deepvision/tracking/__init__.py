"""Everything that talks to MLflow, one module per concern (run tags, artifacts, child runs,
tuning trials, logged parameters, the ``mlflow:`` weight source, ...).

Nothing is re-exported here: import from the module, so adding a module touches no shared file.
"""
