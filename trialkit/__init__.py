"""trialkit: explore and report the NCT07334483 (ST561-1) HCC trial.

The flow runs one way (DESIGN.md section 1)::

    trialkit.io      read + validate a study data folder  -> polars frames
    trialkit.derive  pure polars derivations
    trialkit.charts  altair builders, one theme
    trialkit.report  papermill -> nbconvert HTML -> outputs/<run>/

Public API (import from the submodules):
    trialkit.protocol.load_protocol          the trial's rules as data
    trialkit.io.read_study                   a data folder -> validated frames
    trialkit.validate.validate_study         findings (errors, warnings) per report
    trialkit.demo.write_demo / demo_data_dir the built-in simulated study
    trialkit.report.runner.run_reports       params files -> run folder
"""

__version__ = "0.1.0"
