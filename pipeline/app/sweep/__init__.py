"""Parameter sweeps: Optuna studies whose trials run on Dask (`byob sweep`)."""
