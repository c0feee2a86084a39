"""trialkit: explore and report a clinical trial; built for NCT07334483 (ST561-1), an HCC trial.

The flow runs one way (DESIGN.md section 1); a module imports only from its own layer or a
lower one, and there is no import circle (tests/test_architecture.py):

    errors, cache, format    base: one exception hierarchy, the cache folder, number formats
    protocol                 the trial's rules and names as data (protocols/<id>.yaml)
    io                       read + check a study data folder       -> polars frames, findings
    derive                   pure polars derivations                 (never altair, never files)
    demo                     the built-in simulated study
    study                    one call gives a report its study: read, checked, cut off, filtered
    charts                   altair builders, one theme              (never files)
    report                   papermill -> offline HTML -> outputs/<run>/  (the only writer)
    cli                      the `trialkit` command

Public API, by module (verb prefixes as in STYLE.md: read_ a path -> frame, derive_ adds
columns, compute_ expr -> expr, summarize_ one row per group, plot_ frame -> chart):

    protocol.load_protocol(id_or_path) / find_protocol / generic_protocol    which rules apply
    io.read_study(data_dir, report=, study=) -> Study(frames, files, protocol, findings)
    io.inspect_study / validate_study / format_findings                      every finding, never raises
    io.compute_date(dtc, impute=) / derive_dates                             ISO 8601 (partial) -> Date
    derive.days.compute_study_day                                            SDTMIG study day, no day 0
    derive.subjects.derive_subjects                                          status, RANDDT, first dose, treated
    derive.scope.derive_cutoff / derive_left_out / derive_status_at_cutoff  the data cutoff and the filters
    derive.overview.summarize_*                                              the overview's tables
    derive.exposure.derive_swimmer / summarize_exposure                      doses, sessions, responses, status
    derive.deviations.derive_deviations / describe_rules                     the protocol's timing rules (RULE ids)
    derive.swimmer.derive_swimmer_lanes                                      the swimmer's lanes, sorted, within budget
    derive.eligibility.compute_check / derive_screening_values / derive_eligibility_recheck
                                                                             protocol checks on screening data
    derive.screening.create_screening(subjects, frames, protocol) -> ScreeningAnalysis
                                                                             funnel, criteria, co-failures, outlook
    derive.consort.derive_consort / check_consort                            the CONSORT flow and its arithmetic
    derive.response.filter_time_point_responses / derive_response_analysis   responses, sums, BOR (waterfall)
    derive.response.summarize_waterfall / derive_best_overall_response       waterfall.csv; BOR with reasons
    derive.efficacy.summarize_orr / derive_pfs / summarize_km / summarize_concordance   ORR, PFS, agreement
    study.open_study(report, study=, data_dir=, data_cutoff=, sites=, arms=) -> ReportStudy
    study.resolve_parameters                                                 the params, resolved once
    demo.write_demo(out, seed=, subjects=, cutoff=, fmt=) / demo_data_dir
    charts.plot_* (plot_swimmer) ; charts.arm_colors, RESPONSE_COLORS        one theme, subject selection
    charts.consort_html                                                      the CONSORT diagram (HTML, no JS)
    charts.plot_waterfall_spider / plot_km / plot_orr / plot_concordance     response charts (linked offline)
    format.format_count / format_n_pct / format_ci                           numbers as reports print them
    report.notebook.load_study / show_scope / show_table / show_chart / show_listing / show_html / show_notes
                    / show_left_out
    report.runner.run_reports(params_files, out=, reports=, jobs=)           (`trialkit run`)
    report.pack.write_pack(run_dir, manifest)                                pack.html: every report, one bundle
    report.mail.send_run(run_dir, options)                                   e-mail a run once (`trialkit email`)
    report.swap.swap_folder / remove_leftovers ; report.signals              atomic swap, clean-up, stop signals
    errors.TrialkitError and subclasses                                      every user-facing error
"""

__version__ = "0.1.0"
