"""Everything that takes messages off the bus: the rules consumer and the writer."""
