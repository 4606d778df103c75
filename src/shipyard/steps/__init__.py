"""What each pipeline step does; the KFP components in ``components/`` call these."""
