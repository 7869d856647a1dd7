INSERT INTO [ingest_lease] ([name], [holder], [expires_at]) SELECT @p1, @p2, DATEADD(millisecond, CAST(@p3 AS INT), DATEADD(second, CAST(@p4 AS INT), SYSUTCDATETIME())) WHERE NOT EXISTS (SELECT 1 FROM [ingest_lease] WITH (UPDLOCK, HOLDLOCK) WHERE [name] = @p5)
-- arguments: []interface {}{"contoso/Audit.Exchange", "host-1", 250, 90, "contoso/Audit.Exchange"}
