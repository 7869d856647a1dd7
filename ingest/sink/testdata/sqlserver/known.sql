SELECT [content_id] FROM [content_blob] WHERE [tenant_id] = @p1 AND [status] IN ('loaded', 'expired') AND [content_id] IN (@p2, @p3, @p4)
