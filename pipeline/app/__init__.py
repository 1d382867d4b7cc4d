"""The application: the controller, jobs, the in-process trainer, analysis, figures, sweeps, comparisons, replay. Imports the layers below, never the command line."""
