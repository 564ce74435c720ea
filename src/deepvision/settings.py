"""Project settings: the parameter-validation hook and the config loader (base + local envs).

kedro-mlflow registers its own hook through its entry point; it reads ``conf/*/mlflow.yml``.
"""

from omegaconf.resolvers import oc

from deepvision.console import silence_dependency_warnings
from deepvision.hooks import (
    CatalogModelHook,
    LineageHook,
    LostServerHook,
    MissingInputsHook,
    MlflowArtifactsHook,
    MlflowWeightSourceHook,
    PretrainedWeightSourceHook,
    RunLifecycleHook,
    RunSummaryHook,
    TorchrunRankHook,
    ValidateParamsHook,
)

silence_dependency_warnings()

HOOKS = (ValidateParamsHook(), MissingInputsHook(), RunLifecycleHook(), LineageHook(),
         MlflowArtifactsHook(), MlflowWeightSourceHook(), PretrainedWeightSourceHook(),
         RunSummaryHook(), TorchrunRankHook(), LostServerHook(), CatalogModelHook())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment overrides single keys (conf/test: just train.epochs), not whole blocks.
    "merge_strategy": {"parameters": "soft"},
    # ${oc.env:VAR} everywhere, not only in credentials: conf/team reads the tracking server's and
    # the database's addresses from the environment (an unset variable fails before any node runs).
    "custom_resolvers": {"oc.env": oc.env},
}
