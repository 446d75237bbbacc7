"""The running estate: LPAR connections, deployments, verification runs, observations, drift."""
