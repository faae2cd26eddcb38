// Placeholder: replaced by the ThrowawayCluster implementation.
