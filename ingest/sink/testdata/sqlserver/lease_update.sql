UPDATE [ingest_lease] SET [holder] = @p1, [expires_at] = DATEADD(millisecond, CAST(@p2 AS INT), DATEADD(second, CAST(@p3 AS INT), SYSUTCDATETIME())) WHERE [name] = @p4 AND ([holder] = @p5 OR [expires_at] < SYSUTCDATETIME())
-- arguments: []interface {}{"host-1", 250, 90, "contoso/Audit.Exchange", "host-1"}
