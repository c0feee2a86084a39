"""Reports: params files -> papermill -> offline HTML -> ``outputs/<run>/``.

Modules (kept import-free here: the kernels import ``trialkit.report.notebook`` and must
not pay for papermill or nbconvert):

- :mod:`trialkit.report.params`  load and check params files against the notebooks
- :mod:`trialkit.report.runner`  ``run_reports`` / ``main_run`` (``trialkit run``)
- :mod:`trialkit.report.index`   the run folder's ``index.html``
- :mod:`trialkit.report.html`    offline HTML export and the page shell
- :mod:`trialkit.report.bundle`  the vega bundle gzip-packed for pages, with its loader
- :mod:`trialkit.report.pack`    ``pack.html``: every report of a run in one page
- :mod:`trialkit.report.run_folder` reading a finished run folder (manifest, study)
- :mod:`trialkit.report.mail`    ``trialkit email`` (and ``run --email``); ``smtp_settings``
- :mod:`trialkit.report.notebook` helpers the report notebooks call
"""
