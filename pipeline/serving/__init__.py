"""Online serving (``ct serve``): the HTTP scoring service, the models it holds (champion and
challenger, followed in the registry and swapped without a restart), the traffic split between
them (canary or shadow), the buffered prediction log ``ct_monitor`` reads back, and the service's
OpenMetrics. Reads the stores through the interfaces in ``registry``; never through the workspace."""
