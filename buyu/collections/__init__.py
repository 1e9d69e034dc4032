"""Collections: cases, contact points and flags, contact attempts, promises, callbacks, contact rules, audit."""
