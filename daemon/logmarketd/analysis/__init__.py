"""One log to findings and scores: the agents, scoring, the optional model."""
