"""One module per analytic solver family, each defining its :class:`~..protocol.Method`
as ``METHOD``; :mod:`qmodel.solvers.registry` lists them."""
