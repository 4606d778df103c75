"""One-machine stand-ins for the engines: kfp.local runs, local servers and router,
Prometheus/Alertmanager processes, the closed-loop demo. Cluster code never imports this."""
