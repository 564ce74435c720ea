"""Everything that talks to MLflow, one module per concern: ``run_tags`` (run name and tags),
``artifacts`` (saved datasets and the PyTorch model as artifacts), ``child_runs`` (runs nested
under the active run, and the dataset that writes them), ``trials`` (one child run per tuning
trial), ``params`` (computed values as run parameters), ``weight_source`` (``mlflow:`` backbones).

Nothing is re-exported here: import from the module, so adding a module touches no shared file.
"""
