"""Teaching aids for the notebooks: exercise checkers, plots and widgets.

`viz` and `widgets` import matplotlib and ipywidgets, so they are imported only when a
notebook asks for them, never by `import tinytx`.
"""
