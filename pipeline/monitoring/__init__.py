"""What happens after a model ships: batch scoring with the champion, joining late labels,
live performance windows, the retrain policy that turns windows and drift into decisions, and
the alerts (and their delivery) that tell a person. Reads the stores through the interfaces in
``registry``; never through the workspace."""
