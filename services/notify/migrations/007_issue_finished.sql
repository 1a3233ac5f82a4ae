-- An issue is 'done' once every delivery of it is settled (sent or given up on) and its one
-- `newsletter.finished` is queued; finished_at says when. Its deliveries are not announced one by
-- one: that fact replaces tens of thousands of `notification.sent` records a newsletter once made.
ALTER TABLE newsletter_issues
    DROP CONSTRAINT newsletter_issues_status_check,
    ADD CONSTRAINT newsletter_issues_status_check
        CHECK (status IN ('scheduled', 'sending', 'done')),
    ADD COLUMN finished_at timestamptz;
CREATE INDEX newsletter_issues_sending ON newsletter_issues (id) WHERE status = 'sending';
