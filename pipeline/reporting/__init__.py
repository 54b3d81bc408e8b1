"""Pages people read: the HTML report of each validation and each model version (metrics with
intervals, curves, slices, comparison with the champion) and the charts they embed. Rendering
only; every number shown was computed elsewhere and is passed in."""
