UPDATE [content_blob] SET [content_type] = @p1, [status] = @p2, [reason] = @p3, [attempts] = @p4, [updated_at] = @p5, [content_uri] = @p6 WHERE [tenant_id] = @p7 AND [content_id] = @p8
