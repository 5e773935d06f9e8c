"""Several call nodes on one store (issue 13): each node's heartbeat, jobs that run on one node
at a time, and the sweep that closes a lost node's calls. See docs/scale-out.md."""
