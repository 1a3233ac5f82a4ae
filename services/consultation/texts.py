"""The words for the consultation codes, in Japanese and English, kept apart from the rules.

Events carry codes only (contracts/consultation.py); staff screens and reports show these. The
topic labels follow the center's yearly report (DOMAIN.md, "Consultations").
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from contracts.consultation import (
    CaseKind,
    CaseOutcome,
    CaseState,
    IntakeChannel,
    RejectionReason,
    TopicCode,
)

Language = Literal["ja", "en"]
Words = Mapping[Language, str]

REJECTIONS: Mapping[RejectionReason, Words] = {
    RejectionReason.NOT_FOUND: {
        "ja": "該当する相談案件がありません。",
        "en": "There is no such case.",
    },
    RejectionReason.WRONG_STATE: {
        "ja": "この案件の現在の状態ではその操作はできません。",
        "en": "The case is not in a state that allows this step.",
    },
    RejectionReason.NOT_ASSIGNEE: {
        "ja": "この操作は案件の担当者だけが行えます。",
        "en": "Only the staff member working the case may do this.",
    },
    RejectionReason.NOT_CHIEF_COORDINATOR: {
        "ja": "担当の割り当てはチーフコーディネーターが行います。",
        "en": "Only the chief coordinator assigns cases.",
    },
    RejectionReason.FORBIDDEN: {
        "ja": "この操作を行う権限がありません。",
        "en": "You may not do this.",
    },
    RejectionReason.INVALID: {
        "ja": "内容に誤りがあるため受け付けられません。",
        "en": "The request is not valid.",
    },
    RejectionReason.ID_REUSED: {
        "ja": "このメッセージIDは別の依頼で使用済みです。新しいIDで送信してください。",
        "en": "This message_id was already used for a different request; send it with a new one.",
    },
    RejectionReason.UNAUTHORIZED: {
        "ja": "本人確認ができません。サインインし直してください。",
        "en": "The request carries no valid proof of who sent it; sign in again.",
    },
}

TOPICS: Mapping[TopicCode, Words] = {
    TopicCode.COVID19: {"ja": "新型コロナウイルス関連", "en": "COVID-19 related"},
    TopicCode.FOUNDING: {"ja": "団体の立ち上げ", "en": "Founding a group"},
    TopicCode.INCORPORATION: {"ja": "法人化", "en": "Incorporation"},
    TopicCode.ACTIVITY: {"ja": "活動・事業内容", "en": "Activity and business content"},
    TopicCode.ORGANISATION: {"ja": "組織体制", "en": "Organisation structure"},
    TopicCode.PR: {"ja": "広報", "en": "Public relations"},
    TopicCode.FUNDRAISING: {"ja": "資金調達", "en": "Fundraising"},
    TopicCode.CORPORATE_ADMIN: {"ja": "法人運営", "en": "Corporate administration"},
    TopicCode.ACCOUNTING: {"ja": "会計", "en": "Accounting"},
    TopicCode.TAX: {"ja": "税務", "en": "Tax"},
    TopicCode.LABOUR: {"ja": "労務", "en": "Labour"},
    TopicCode.COLLABORATION: {"ja": "他団体との連携・協働", "en": "Collaboration with others"},
    TopicCode.OTHER: {"ja": "その他", "en": "Other"},
}

KINDS: Mapping[CaseKind, Words] = {
    CaseKind.ACTIVITY: {"ja": "市民活動に関する相談", "en": "Activity consultation"},
    CaseKind.COLLABORATION_PROPOSAL: {"ja": "協働提案", "en": "Collaboration proposal"},
}

CHANNELS: Mapping[IntakeChannel, Words] = {
    IntakeChannel.WEB: {"ja": "ウェブフォーム", "en": "Web form"},
    IntakeChannel.EMAIL: {"ja": "メール", "en": "E-mail"},
    IntakeChannel.PHONE: {"ja": "電話", "en": "Phone"},
    IntakeChannel.WALK_IN: {"ja": "来館", "en": "Walk-in"},
}

STATES: Mapping[CaseState, Words] = {
    CaseState.RECEIVED: {"ja": "受付", "en": "Received"},
    CaseState.HEARING: {"ja": "ヒアリング中", "en": "Hearing"},
    CaseState.ASSIGNED: {"ja": "担当決定", "en": "Assigned"},
    CaseState.IN_PROGRESS: {"ja": "対応中", "en": "In progress"},
    CaseState.REFERRED: {"ja": "専門家等へ紹介中", "en": "Referred"},
    CaseState.CLOSED: {"ja": "終結", "en": "Closed"},
}

OUTCOMES: Mapping[CaseOutcome, Words] = {
    CaseOutcome.RESOLVED: {"ja": "解決", "en": "Resolved"},
    CaseOutcome.HANDED_OVER: {"ja": "他機関へ引き継ぎ", "en": "Handed over"},
    CaseOutcome.PROJECT_STARTED: {"ja": "協働事業化", "en": "Became a project"},
    CaseOutcome.NOT_PURSUED: {"ja": "見送り", "en": "Not pursued"},
    CaseOutcome.WITHDRAWN: {"ja": "取り下げ", "en": "Withdrawn"},
    CaseOutcome.UNREACHABLE: {"ja": "連絡不能", "en": "Unreachable"},
    CaseOutcome.INQUIRY: {"ja": "簡易な問い合わせ（件数外）", "en": "Inquiry (not counted)"},
}

ALL: Mapping[type[StrEnum], Mapping[Any, Words]] = {
    RejectionReason: REJECTIONS,
    TopicCode: TOPICS,
    CaseKind: KINDS,
    IntakeChannel: CHANNELS,
    CaseState: STATES,
    CaseOutcome: OUTCOMES,
}


def words(code: StrEnum, language: Language = "ja") -> str:
    """The words for a code; every code of the contract has them in both languages."""
    return ALL[type(code)][code][language]
