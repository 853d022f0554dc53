"""The transport network operator (TNO): its bus fleet's charging plan."""
