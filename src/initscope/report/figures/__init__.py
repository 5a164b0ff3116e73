"""The figures particular to one experiment, one module per experiment: each function builds a
:class:`~initscope.report.charts.Chart` from that experiment's tidy tables and a few plain
parameters, so that the experiment's ``report()`` only says which figure goes in which section
beside which verdict. Figures several experiments share are in :mod:`initscope.report.builders`.
Nothing here imports an experiment."""
