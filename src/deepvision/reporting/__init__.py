"""Figures and tables for reports (matplotlib, pandas); no Kedro, no MLflow."""
