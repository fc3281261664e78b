"""ketaclinic: software that runs a ketamine and esketamine clinic."""
