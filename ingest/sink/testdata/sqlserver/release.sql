DELETE FROM [ingest_lease] WHERE [name] = @p1 AND [holder] = @p2
