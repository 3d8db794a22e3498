/**
 * etcd settings a batch of 1,000 peers (the batch endpoint's maximum, one revision) needs:
 * 1,000 creations write ~5,000 distinct keys (record, key claim, two address claims, audit
 * entry each) plus the revision and the log entry, in one request of ~2.5 MB (values, and the
 * log entry's copy of them); a 1 MiB body of peers with many labels and AllowedIPs needs more.
 * The lab, the tests and the README start etcd with these; checkLimits() probes for them.
 */
export const ETCD_BATCH_LIMITS = { maxTxnOps: 10_000, maxRequestBytes: 10 * 1024 * 1024 } as const;
