// @generated automatically by Diesel CLI.

diesel::table! {
    accepted_requests (tenant_id, idempotency_key) {
        tenant_id -> Uuid,
        idempotency_key -> Text,
        request_hash -> Text,
        message_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        prefix -> Text,
        key_hash -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        name -> Text,
        scopes -> Array<Nullable<Text>>,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    bot_rules (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        shop_id -> Uuid,
        name -> Text,
        keywords -> Jsonb,
        examples -> Jsonb,
        reply -> Nullable<Text>,
        fulfilment_url -> Nullable<Text>,
        fulfilment_secret -> Nullable<Text>,
        priority -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        shop_id -> Uuid,
        template_id -> Uuid,
        name -> Text,
        category -> Text,
        segment -> Jsonb,
        data -> Jsonb,
        send_at -> Nullable<Timestamptz>,
        status -> Text,
        cursor -> Nullable<Uuid>,
        available_at -> Timestamptz,
        waiting_reason -> Nullable<Text>,
        audience_estimate -> Int4,
        recipients -> Int4,
        queued -> Int4,
        scheduled -> Int4,
        skipped -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        expanded_at -> Nullable<Timestamptz>,
        cancelled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    consent_events (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        customer_id -> Uuid,
        state -> Text,
        source -> Text,
        evidence -> Jsonb,
        at -> Timestamptz,
    }
}

diesel::table! {
    console_email_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Uuid,
        purpose -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    console_emails (id) {
        id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        to_address -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        provider_message_id -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    console_invitations (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        invited_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    console_oidc_identities (issuer, subject) {
        issuer -> Text,
        subject -> Text,
        user_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    console_oidc_logins (state_hash) {
        state_hash -> Text,
        nonce -> Text,
        code_verifier -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    console_reset_codes (id) {
        id -> Uuid,
        user_id -> Uuid,
        code_hash -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        attempts -> Int4,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    console_sessions (token_hash) {
        token_hash -> Text,
        user_id -> Uuid,
        tenant_id -> Uuid,
        csrf_token -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    console_users (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        email -> Text,
        password_hash -> Nullable<Text>,
        role -> Text,
        email_verified_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    conversations (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        shop_id -> Uuid,
        customer_id -> Uuid,
        phone -> Text,
        needs_human -> Bool,
        handoff_reason -> Nullable<Text>,
        handed_off_at -> Nullable<Timestamptz>,
        last_inbound_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    customers (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        shop_id -> Uuid,
        phone -> Text,
        name -> Nullable<Text>,
        attributes -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        consent -> Text,
        time_zone -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (tenant_id, key) {
        tenant_id -> Uuid,
        key -> Text,
        request_hash -> Text,
        state -> Text,
        response_status -> Nullable<Int4>,
        response_content_type -> Nullable<Text>,
        response_body -> Nullable<Bytea>,
        created_at -> Timestamptz,
        locked_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    inbound_messages (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        conversation_id -> Uuid,
        provider_sid -> Text,
        from_number -> Text,
        to_number -> Text,
        body -> Text,
        num_media -> Int4,
        received_at -> Timestamptz,
        processed_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
        outcome_detail -> Jsonb,
    }
}

diesel::table! {
    lead_search_budget (scope, day) {
        scope -> Text,
        day -> Date,
        queries -> Int4,
    }
}

diesel::table! {
    lead_search_leads (lead_search_id, lead_id) {
        tenant_id -> Uuid,
        lead_search_id -> Uuid,
        lead_id -> Uuid,
        found_at -> Timestamptz,
    }
}

diesel::table! {
    lead_searches (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        query -> Jsonb,
        max_results -> Int4,
        status -> Text,
        provider -> Nullable<Text>,
        next_offset -> Int4,
        pages_fetched -> Int4,
        results_seen -> Int4,
        leads_new -> Int4,
        duplicates -> Int4,
        skipped -> Int4,
        errors -> Int4,
        last_error -> Nullable<Text>,
        waiting_reason -> Nullable<Text>,
        resume_at -> Nullable<Timestamptz>,
        worker_id -> Nullable<Text>,
        lease_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    leads (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        profile_url -> Text,
        name -> Text,
        headline -> Nullable<Text>,
        company -> Nullable<Text>,
        location -> Nullable<Text>,
        first_seen_at -> Timestamptz,
        last_seen_at -> Timestamptz,
    }
}

diesel::table! {
    media (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        s3_key -> Text,
        content_type -> Text,
        bytes -> Int4,
        width -> Int4,
        height -> Int4,
        sha256 -> Text,
        original_name -> Text,
        thumbnail_s3_key -> Text,
        thumbnail_content_type -> Text,
        thumbnail_width -> Int4,
        thumbnail_height -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    message_events (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        message_id -> Uuid,
        event_type -> Text,
        at -> Timestamptz,
        detail -> Jsonb,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        shop_id -> Uuid,
        customer_id -> Nullable<Uuid>,
        template_id -> Nullable<Uuid>,
        to_number -> Text,
        from_number -> Text,
        body -> Text,
        segments -> Int4,
        encoding -> Text,
        status -> Text,
        provider_sid -> Nullable<Text>,
        error_code -> Nullable<Int4>,
        error_message -> Nullable<Text>,
        attempts -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        category -> Text,
        send_at -> Nullable<Timestamptz>,
        campaign_id -> Nullable<Uuid>,
        claimed_by -> Nullable<Text>,
        lease_until -> Nullable<Timestamptz>,
        origin -> Text,
        in_reply_to -> Nullable<Uuid>,
        media_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        queue -> Text,
        message_type -> Text,
        body -> Jsonb,
        traceparent -> Nullable<Text>,
        created_at -> Timestamptz,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        available_at -> Timestamptz,
        message_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    provider_accounts (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        provider -> Text,
        account_sid -> Text,
        auth_token_sealed -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    provider_callbacks (id) {
        id -> Uuid,
        provider_sid -> Text,
        provider_status -> Text,
        idempotency_token -> Nullable<Text>,
        error_code -> Nullable<Int4>,
        params -> Jsonb,
        received_at -> Timestamptz,
        tenant_id -> Nullable<Uuid>,
        message_id -> Nullable<Uuid>,
        applied -> Bool,
    }
}

diesel::table! {
    queue_rejections (id) {
        id -> Uuid,
        queue -> Text,
        sqs_message_id -> Text,
        reason -> Text,
        body_excerpt -> Text,
        receive_count -> Int4,
        at -> Timestamptz,
    }
}

diesel::table! {
    send_rate_buckets (key) {
        key -> Text,
        tokens -> Float8,
        refilled_at -> Timestamptz,
    }
}

diesel::table! {
    sender_numbers (number) {
        number -> Text,
        tenant_id -> Uuid,
        created_at -> Timestamptz,
        account_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    shops (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        sender_number -> Nullable<Text>,
        time_zone -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        marketing_cap_count -> Int4,
        marketing_cap_window_hours -> Int4,
        quiet_hours_start -> Time,
        quiet_hours_end -> Time,
        smart_encoding -> Bool,
        help_text -> Nullable<Text>,
        opt_out_keywords -> Jsonb,
        opt_in_keywords -> Jsonb,
        help_keywords -> Jsonb,
    }
}

diesel::table! {
    templates (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        body -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        category -> Text,
        media_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    tenant_request_usage (tenant_id, window_start) {
        tenant_id -> Uuid,
        window_start -> Timestamptz,
        requests -> Int4,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        requests_per_minute -> Int4,
        daily_message_cap -> Int4,
        lead_search_daily_queries -> Nullable<Int4>,
        approved_at -> Nullable<Timestamptz>,
        destination_calling_codes -> Nullable<Array<Nullable<Text>>>,
    }
}

diesel::table! {
    verified_numbers (tenant_id, phone) {
        tenant_id -> Uuid,
        phone -> Text,
        code_hash -> Nullable<Text>,
        code_expires_at -> Nullable<Timestamptz>,
        code_issued_at -> Nullable<Timestamptz>,
        verified_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        delivery_id -> Uuid,
        at -> Timestamptz,
        response_status -> Nullable<Int4>,
        error -> Nullable<Text>,
        duration_ms -> Int4,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        endpoint_id -> Uuid,
        event_type -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        shop_id -> Nullable<Uuid>,
        url -> Text,
        events -> Jsonb,
        secret -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(accepted_requests -> messages (message_id));
diesel::joinable!(accepted_requests -> tenants (tenant_id));
diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(campaigns -> tenants (tenant_id));
diesel::joinable!(console_email_tokens -> console_users (user_id));
diesel::joinable!(console_emails -> tenants (tenant_id));
diesel::joinable!(console_invitations -> console_users (invited_by));
diesel::joinable!(console_invitations -> tenants (tenant_id));
diesel::joinable!(console_oidc_identities -> console_users (user_id));
diesel::joinable!(console_reset_codes -> console_users (user_id));
diesel::joinable!(console_sessions -> console_users (user_id));
diesel::joinable!(console_sessions -> tenants (tenant_id));
diesel::joinable!(console_users -> tenants (tenant_id));
diesel::joinable!(idempotency_keys -> tenants (tenant_id));
diesel::joinable!(lead_searches -> tenants (tenant_id));
diesel::joinable!(leads -> tenants (tenant_id));
diesel::joinable!(media -> tenants (tenant_id));
diesel::joinable!(message_events -> messages (message_id));
diesel::joinable!(messages -> customers (customer_id));
diesel::joinable!(messages -> inbound_messages (in_reply_to));
diesel::joinable!(messages -> media (media_id));
diesel::joinable!(messages -> templates (template_id));
diesel::joinable!(provider_accounts -> tenants (tenant_id));
diesel::joinable!(provider_callbacks -> messages (message_id));
diesel::joinable!(sender_numbers -> tenants (tenant_id));
diesel::joinable!(shops -> tenants (tenant_id));
diesel::joinable!(templates -> media (media_id));
diesel::joinable!(templates -> tenants (tenant_id));
diesel::joinable!(tenant_request_usage -> tenants (tenant_id));
diesel::joinable!(verified_numbers -> tenants (tenant_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(webhook_endpoints -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    accepted_requests,
    api_keys,
    bot_rules,
    campaigns,
    consent_events,
    console_email_tokens,
    console_emails,
    console_invitations,
    console_oidc_identities,
    console_oidc_logins,
    console_reset_codes,
    console_sessions,
    console_users,
    conversations,
    customers,
    idempotency_keys,
    inbound_messages,
    lead_search_budget,
    lead_search_leads,
    lead_searches,
    leads,
    media,
    message_events,
    messages,
    outbox,
    provider_accounts,
    provider_callbacks,
    queue_rejections,
    send_rate_buckets,
    sender_numbers,
    shops,
    templates,
    tenant_request_usage,
    tenants,
    verified_numbers,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
);
