package store

// SetAuditBounds lowers a Redis store's audit cap and scan bound, so tests can reach them.
func SetAuditBounds(s *RedisStore, cap, scan int) { s.auditCap, s.auditScan = cap, scan }
