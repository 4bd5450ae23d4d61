"""The GitOps daemon: pull from Git, reconcile continuously, heal drift, report health."""
