"""trialkit: explore and report the NCT07334483 (ST561-1) HCC trial.

The flow runs one way (DESIGN.md section 1)::

    trialkit.io / validate  read + check a study data folder   -> polars frames, findings
    trialkit.derive         pure polars derivations              (never altair, never files)
    trialkit.charts         altair builders, one theme           (never files)
    trialkit.report         papermill -> offline HTML -> outputs/<run>/  (the only writer)

Public API, by module (verb prefixes as in STYLE.md: read_ a path -> frame, derive_ adds
columns, compute_ expr -> expr, summarize_ one row per group, plot_ frame -> chart):

    protocol.load_protocol(id_or_path)             the trial's rules as data (arms, dosing, eligibility, response)
    io.read_study(data_dir, report=)               a folder -> Study(frames, files, findings); raises DataError
    io.read_dataset(path) / find_datasets(dir)     one file / the datasets of a folder
    io.compute_date(dtc, impute=)                  ISO 8601 (partial) text -> Date, admiral imputation
    io.derive_dates / derive_randomization_date / derive_screen_failure
    validate.validate_study(dir, report=)          findings (errors, warnings); format_findings for text
    demo.write_demo(out, seed=, subjects=, cutoff=, fmt=) / generate_demo / demo_data_dir
    derive.overview.derive_subject_status / summarize_site_table / summarize_screening_by_site / ...
    charts.plot_screening_by_site / plot_subjects_by_arm_site; ARM_COLORS, RESPONSE_COLORS
    report.notebook.setup / load_study / show_table / show_chart / show_findings   (called by notebooks)
    report.runner.run_reports(params_files, out=, reports=, jobs=)                 (`trialkit run`)
    report.html.export_html / page                 the offline page shell
    report.pack.write_pack(run_dir, manifest)      pack.html: every report in one page, one bundle
    report.mail.send_run(run_dir, options)         e-mail a run folder once (`trialkit email`, `run --email`)
    errors.TrialkitError and subclasses            every user-facing error; str() is the message
"""

__version__ = "0.1.0"
