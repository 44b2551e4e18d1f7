"""The vocabulary of sitelog: Avro schemas, typed events, hybrid logical clock, codec. No I/O."""
