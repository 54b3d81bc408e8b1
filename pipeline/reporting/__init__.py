"""Pages people read: the HTML report of each validation and each model version (metrics with
intervals, curves, slices, comparison with the champion) and the charts they embed. Rendering
only, from the Jinja2 templates in ``templates/``; every number shown was computed elsewhere and
is passed in."""
