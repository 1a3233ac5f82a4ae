-- An issue is 'done' once every delivery of it is settled (sent or given up on) and its one
-- `newsletter.finished` is queued; finished_at says when. Its deliveries are not announced one by
-- one: that fact replaces tens of thousands of `notification.sent` records a newsletter once made.
ALTER TABLE newsletter_issues
    DROP CONSTRAINT newsletter_issues_status_check,
    ADD CONSTRAINT newsletter_issues_status_check
        CHECK (status IN ('scheduled', 'sending', 'done')),
    ADD COLUMN finished_at timestamptz;
CREATE INDEX newsletter_issues_sending ON newsletter_issues (id) WHERE status = 'sending';
-- Issues already settled were announced delivery by delivery when they went out: they are done,
-- and no `newsletter.finished` is made up for them now.
UPDATE newsletter_issues i SET status = 'done',
    finished_at = coalesce((SELECT max(d.sent_at) FROM deliveries d WHERE d.issue_id = i.id),
                           i.started_at)
WHERE i.status = 'sending' AND NOT EXISTS (SELECT 1 FROM deliveries d
    WHERE d.issue_id = i.id AND d.status IN ('pending', 'sending'));
