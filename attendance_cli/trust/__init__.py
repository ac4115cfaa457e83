"""Many schools: a trust's or a local authority's schools, each run as its own school.

    load_trust(path)              trust.toml -> Trust (each school's name, DfE number, phase, exports,
                                  calendar, policy, ledger and settings; paths relative to the file)
    split_by_school(paths)        exports with a school column -> one school per value (split.py)
    run_schools(fn, tasks, ...)   the same per-school function in a process pool, or on a Dask
                                  cluster with a scheduler address (run.py)
    combine / suppress            the trust-wide row from summed sessions, and small-number
                                  suppression with secondary suppression (statistics.suppression)

A school is never mixed with another: each is opened as its own data set, with its own calendar,
policy, ledger and settings, and counted by the same library calls (`attendance_cli.jobs`) a
school's own run makes, so its figures are those of its own `summary`, `triggers` or `report`.
Pupils are known by the pair (school, pupil id): the same id at two schools is two pupils.
"""

from attendance_cli.trust.config import School, Trust, load_trust

__all__ = ["School", "Trust", "load_trust"]
