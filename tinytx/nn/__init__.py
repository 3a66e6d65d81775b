"""The components each chapter builds: one module per idea."""
