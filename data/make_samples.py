"""Generate small, fictional sample data for demos and tests.

Everything written here is invented for a fictional online bank called
"Northwind Bank". Utterances are composed from hand-written templates, slot
fillers (fictional merchants, amounts, cities, ...), paraphrase prefixes and
suffixes, plus occasional casing changes and typos. No real customer data is
used. The script is stdlib-only, seeded (the output is byte-for-byte
deterministic) and cheap to run (well under a second).

Files written (relative to ``--out``, default: the folder of this script)::

    support/intents.csv       text,intent                    (training utterances)
    support/intents_test.csv  text,intent                    (held-out utterances)
    support/faq.csv           id,question,answer,intent,tags (FAQ knowledge base)
    support/oos.csv           text                           (out-of-scope messages)
    support/faq_queries.csv   query,faq_id                   (held-out FAQ queries)

Usage::

    python data/make_samples.py [--out data] [--force]

Only missing files are written unless ``--force`` is given. Writes are atomic
(temporary file in the same folder, then ``os.replace``).

The module is not part of a package; load it with ``runpy.run_path`` or
``importlib.util.spec_from_file_location`` and call :func:`make_samples`.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

SEED = 20240611
TRAIN_PER_INTENT = 40
TEST_PER_INTENT = 10

HERE = Path(__file__).resolve().parent

# key -> (relative path, header)
FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "intents": ("support/intents.csv", ("text", "intent")),
    "intents_test": ("support/intents_test.csv", ("text", "intent")),
    "faq": ("support/faq.csv", ("id", "question", "answer", "intent", "tags")),
    "oos": ("support/oos.csv", ("text",)),
    "faq_queries": ("support/faq_queries.csv", ("query", "faq_id")),
}

FAQ_QUESTION_SEP = " || "
FAQ_TAG_SEP = ";"

# Hand-written data tables: kept compact on purpose.
# fmt: off
# --------------------------------------------------------------------------- #
# Slot fillers (all fictional)
# --------------------------------------------------------------------------- #

SLOTS: dict[str, tuple[str, ...]] = {
    "card": (
        "card", "debit card", "credit card", "Visa card", "bank card",
        "Northwind card", "contactless card", "new card",
    ),
    "city": (
        "London", "Manchester", "Leeds", "Bristol", "Glasgow", "Cardiff",
        "Brighton", "Edinburgh", "Newcastle", "Norwich", "Belfast",
    ),
    "country": (
        "Spain", "France", "the US", "Portugal", "Italy", "Germany", "Greece",
        "Japan", "Mexico", "Thailand", "Canada", "Poland",
    ),
    "when": (
        "yesterday", "last week", "on Monday", "this morning", "two days ago",
        "last night", "on Friday", "a few days ago", "over the weekend",
        "last month",
    ),
    "days": ("5", "7", "10", "12", "14", "three", "ten", "eight"),
    "amount": (
        "£25", "£9.99", "£120", "£49.50", "£300", "£1,200", "£15", "€80",
        "$60", "£7.49", "75 pounds", "£2,000", "£18.20", "£640",
    ),
    "merchant": (
        "Brightmart", "QuickRide", "Pixel Plaza", "Harbour Coffee",
        "StreamBox", "Urban Threads", "FreshCart", "SkyHop Airways",
        "BookNook", "GameVault", "Corner Deli", "PetPals",
    ),
    "payee": (
        "my landlord", "my sister", "a friend", "my brother", "my mum",
        "a supplier", "my flatmate", "my builder", "my dad", "a client",
    ),
    "currency": (
        "euros", "US dollars", "yen", "Swiss francs", "Canadian dollars",
        "EUR", "USD", "Polish zloty", "Thai baht", "Mexican pesos",
    ),
    "account_type": (
        "current account", "savings account", "joint account",
        "business account", "student account", "kids account",
    ),
    "fee": ("£5", "£2.50", "£12", "£3.99", "£25", "£1.50", "£8"),
    "limit": ("£250", "£500", "£750", "£1,000", "£1,500", "£2,000"),
    "loan_amount": ("£5,000", "£10k", "£2,500", "15000 pounds", "£20,000", "£8,000"),
    "biller": (
        "Brightwater Energy", "my gym", "FitLife Gym", "my phone provider",
        "Skyline Broadband", "the council", "my water company",
        "my insurance company", "StreamBox",
    ),
}

# --------------------------------------------------------------------------- #
# Intent templates
#
# A template starting with "^" is a terse message: it gets no prefix/suffix,
# only casing/punctuation variation.
# --------------------------------------------------------------------------- #

INTENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "card_lost": (
        "I lost my {card}",
        "I think I've lost my {card} somewhere in {city}",
        "My {card} was stolen {when}",
        "Someone stole my wallet with my {card} in it",
        "I can't find my {card} anywhere, what should I do?",
        "How do I freeze my {card}? I think it's lost",
        "My {card} is missing, can you block it?",
        "Left my {card} in a taxi {when}",
        "I need to report a stolen {card}",
        "My bag got stolen {when} and my {card} was in it, please cancel it",
        "What do I do if my {card} has been lost or stolen?",
        "Can you cancel my {card}? I dropped it somewhere",
        "My phone and {card} got nicked on the train {when}",
        "^lost card",
        "^stolen card",
    ),
    "card_not_arrived": (
        "My {card} hasn't arrived yet",
        "I ordered a {card} {when} and it still hasn't come",
        "Where is my {card}?",
        "Still waiting for my replacement {card}",
        "How long does it take for a {card} to be delivered?",
        "It's been {days} days and no {card} in the post",
        "Can you track the delivery of my {card}?",
        "My {card} never showed up",
        "The app says my {card} was dispatched {when} but nothing has come through the letterbox",
        "Is my {card} lost in the post? It's been {days} days",
        "When will my {card} arrive?",
        "^card not arrived",
        "^still no card",
    ),
    "pin_blocked": (
        "My PIN is blocked",
        "I entered the wrong PIN three times and now my {card} is locked",
        "How do I unblock my PIN?",
        "I forgot my PIN, how can I see it?",
        "The cash machine says my PIN is locked",
        "My {card} got blocked after too many wrong PIN attempts",
        "Can I reset my PIN in the app?",
        "I can't remember the PIN for my {card}",
        "It says incorrect PIN too many times, what now?",
        "How do I get my PIN unlocked? I'm stuck in {city} with no cash",
        "The ATM in {country} wouldn't accept my PIN and now it's blocked",
        "^pin blocked",
        "^forgot pin",
    ),
    "card_declined": (
        "My {card} was declined at {merchant}",
        "Why was my payment declined {when}?",
        "My {card} keeps getting declined online",
        "A payment of {amount} to {merchant} was refused, but I have money in my account",
        "Card declined at the checkout, what's wrong?",
        "I tried to pay {amount} at {merchant} and it said transaction declined",
        "Why doesn't my {card} work in {country}?",
        "My contactless payments keep failing",
        "My {card} isn't working in shops",
        "The terminal at {merchant} keeps rejecting my {card}",
        "Embarrassing, my {card} got declined at dinner {when}, why?",
        "^card declined",
    ),
    "transfer_failed": (
        "My transfer of {amount} to {payee} failed",
        "Why did my bank transfer fail?",
        "I sent {amount} {when} and it bounced back",
        "The transfer to {payee} says failed, what happened?",
        "My payment to {payee} didn't go through",
        "I tried to send money to {payee} but got an error",
        "My international transfer to {country} was rejected",
        "The app says 'transfer unsuccessful' when I try to pay {payee}",
        "{payee} says they never received the {amount} I sent {when}",
        "Why does my transfer keep failing?",
        "I've been trying to send {amount} to {payee} all day and it won't go through",
        "^transfer failed",
    ),
    "refund_status": (
        "Where is my refund from {merchant}?",
        "{merchant} said they refunded me {amount} {when} but I can't see it",
        "How long do refunds take to show up?",
        "I'm still waiting on a refund of {amount}",
        "My refund isn't showing in my account",
        "When will I get my money back from {merchant}?",
        "Has my refund been processed yet?",
        "Can you check the status of a refund from {merchant}?",
        "The shop sent a refund {days} days ago, why isn't it in my account?",
        "I returned an order to {merchant} {when}, when does the refund land?",
        "^refund pending for ages",
        "^where is my refund",
    ),
    "dispute_charge": (
        "There's a charge from {merchant} I don't recognise",
        "I want to dispute a payment of {amount}",
        "I was charged twice by {merchant}",
        "Someone used my {card} to pay {amount} at {merchant}, it wasn't me",
        "How do I raise a chargeback?",
        "There's a transaction on my statement I didn't make",
        "{merchant} charged me {amount} for a subscription I cancelled",
        "There's an unknown payment on my account from {when}",
        "I paid {merchant} for something that never arrived, can you get my money back?",
        "I'd like to challenge a transaction",
        "Who is {merchant} and why have they taken {amount} from me?",
        "^dispute a charge",
    ),
    "change_address": (
        "I need to change my address",
        "I've moved to {city}, how do I update my address?",
        "How can I update my home address?",
        "Can I change my postal address in the app?",
        "I'm moving house next month, what do I need to do?",
        "My address on file is wrong",
        "How do I change the billing address for my {card}?",
        "We've just moved to a new flat in {city}, where do I put the new address?",
        "Do I need proof of address to update my details?",
        "I'm relocating from {city} to {city}, how do I let you know?",
        "^change of address",
        "^update address please",
    ),
    "reset_password": (
        "I forgot my password",
        "How do I reset my password?",
        "I can't log in to the app",
        "My account is locked after too many login attempts",
        "The password reset link isn't working",
        "I didn't get the password reset email",
        "I can't sign in to online banking",
        "I need a new password for my Northwind account",
        "The app keeps saying my password is incorrect",
        "How do I change my login password?",
        "I got a new phone and now I can't log in to Northwind",
        "^locked out of my account",
        "^password reset",
    ),
    "open_account": (
        "How do I open an account?",
        "I'd like to open a {account_type}",
        "Can I open a {account_type} online?",
        "What do I need to open an account with Northwind?",
        "Can I open an account if I live in {country}?",
        "I want to become a Northwind customer",
        "How long does it take to open a {account_type}?",
        "Do you offer a {account_type}?",
        "Can my 16 year old open an account?",
        "I'm moving to the UK from {country}, can I open an account before I arrive?",
        "^sign up for a new account",
        "^open account",
    ),
    "close_account": (
        "I want to close my account",
        "How do I close my {account_type}?",
        "Please cancel my Northwind account",
        "I'd like to close my account and move my money to another bank",
        "How can I delete my account?",
        "I'm leaving Northwind, what do I need to do?",
        "What happens to my balance if I close my account?",
        "Can I close my {account_type} in the app?",
        "I don't use my {account_type} anymore, please shut it down",
        "I'm unhappy with the service and want to close everything",
        "^close account",
    ),
    "exchange_rate": (
        "What's the exchange rate for {currency}?",
        "How much is 100 pounds in {currency}?",
        "What rate do you use when I pay in {currency}?",
        "What exchange rate will I get in {country}?",
        "Is the exchange rate worse at the weekend?",
        "How many {currency} will I get for {amount}?",
        "What's the current GBP to {currency} rate?",
        "Which rate do you use for card payments abroad?",
        "Should I pay in {currency} or pounds when the card machine asks?",
        "I'm off to {country} next week, what rate will my card get?",
        "^exchange rate today",
    ),
    "fees_question": (
        "Are there any fees for using my {card} abroad?",
        "How much does it cost to withdraw cash in {country}?",
        "Do you charge a monthly fee?",
        "Why was I charged a fee of {fee}?",
        "What are the fees for international transfers?",
        "Is there a fee for a replacement card?",
        "Are ATM withdrawals free?",
        "What does the {account_type} cost per month?",
        "I see a {fee} fee on my statement, what is it for?",
        "Is it free to send money to {country}?",
        "^list of fees please",
        "^fees?",
    ),
    "loan_application": (
        "I'd like to apply for a loan",
        "Can I borrow {loan_amount}?",
        "How do I apply for a personal loan?",
        "What's the interest rate on a {loan_amount} loan?",
        "Am I eligible for a loan?",
        "I need a loan to buy a car",
        "How long does a loan decision take?",
        "Will applying for a loan affect my credit score?",
        "What's the status of my loan application?",
        "Can I get a loan to renovate my kitchen?",
        "I want to borrow {loan_amount} over three years, what would the repayments be?",
        "^loan application",
    ),
    "overdraft": (
        "How do I get an overdraft?",
        "Can I increase my overdraft limit to {limit}?",
        "What's the interest on an overdraft?",
        "I went into my overdraft by accident",
        "Can I have an arranged overdraft?",
        "How do I remove my overdraft?",
        "Why am I being charged overdraft interest?",
        "I need a temporary overdraft until payday",
        "What's my overdraft limit?",
        "I'm {limit} overdrawn, will I be charged?",
        "^overdraft please",
    ),
    "direct_debit": (
        "How do I set up a direct debit?",
        "I want to cancel the direct debit to {biller}",
        "My direct debit to {biller} didn't go out",
        "Can I see all my direct debits?",
        "How do I change the date of my direct debit?",
        "The direct debit for {biller} was taken twice {when}",
        "Please stop the direct debit to {biller}",
        "What's the difference between a standing order and a direct debit?",
        "How do I move my direct debits from my old bank?",
        "{biller} says my direct debit bounced, why?",
        "^direct debit failed",
        "^cancel direct debit",
    ),
    "speak_to_human": (
        "Can I speak to a human?",
        "I want to talk to a real person",
        "Connect me to an agent please",
        "Is there a phone number I can call?",
        "I don't want to talk to a bot",
        "Transfer me to customer service",
        "Can someone call me back?",
        "This bot isn't helping, get me a person",
        "Is there a live chat with an actual person?",
        "Let me talk to someone who works at Northwind",
        "Can I speak to a manager about a complaint?",
        "^agent",
        "^human please",
        "^operator",
        "^real person",
        "^talk to agent",
    ),
}

# Paraphrase prefixes and suffixes for the templated (non-social) intents.
# A prefix ending in ". " is a sentence of its own (the core keeps its capital);
# otherwise the core's first letter is lower-cased ("Hi, how do I ...").
PREFIX_P = 0.4
SUFFIX_P = 0.35
PREFIXES: tuple[str, ...] = (
    "Hi, ", "Hello, ", "Hey, ", "Hi there, ", "hey team, ", "Good morning, ",
    "Quick question: ", "Please help, ", "Excuse me, ", "URGENT: ",
    "Sorry to bother you, but ", "Hello Northwind, ", "Hi, ", "Hello, ",
    "I'm in {country} at the moment. ",
    "I've been a customer for years. ",
    "I'm using the app on my phone. ",
    "Not sure if this is the right place, but ",
    "My partner told me to ask here: ",
    "Sorry if this is a silly question, but ",
    "Hope you can help. ",
)
# Suffixes that fit after any message.
SUFFIXES: tuple[str, ...] = (
    " Thanks", " Thanks!", " Please help.", " Cheers.", " This is urgent.",
    " Thank you in advance.", " I'm really worried.", " Thanks in advance",
)
# Suffixes that only fit after a question.
QUESTION_SUFFIXES: tuple[str, ...] = (
    " Any ideas?", " Please advise", " Would appreciate a quick answer.",
    " Can you help?",
)
# Words that should not be repeated by a prefix or suffix ("Please help, ... please").
_REPEATABLE_NOT = frozenset({"please", "help", "urgent", "thanks", "thank", "hope"})

# Common misspellings used to inject the occasional realistic typo.
MISSPELLINGS: dict[str, str] = {
    "received": "recieved", "receive": "recieve", "address": "adress",
    "account": "acount", "password": "pasword", "transfer": "tranfer",
    "please": "pls", "you": "u", "because": "becuase", "money": "mony",
    "arrived": "arived", "statement": "statment", "cancel": "cancell",
    "what": "wat", "the": "teh", "refund": "refnd", "thanks": "thnks",
    "weekend": "weeknd", "overdraft": "overdarft", "direct": "dierct",
}

# --------------------------------------------------------------------------- #
# Social intents: composed from their own parts
# --------------------------------------------------------------------------- #

GREETING_BASES = (
    "hi", "hello", "hey", "hiya", "hey there", "hi there", "hello there",
    "good morning", "good afternoon", "good evening", "morning", "afternoon",
    "howdy", "greetings", "yo", "heya",
)
GREETING_TARGETS = (
    "", "", "", "Northwind", "Northwind Bank", "team", "support",
    "support team", "everyone", "folks",
)
GREETING_TAILS = (
    "", "", "!", ".", " :)", "!!", ", anyone there?", ", is anyone around?",
    ", how are you?", ", hope you're well", " 👋",
)

THANKS_OPENERS = (
    "", "", "", "great", "perfect", "brilliant", "ok", "okay", "awesome",
    "lovely", "that worked", "got it", "that's sorted it", "amazing",
)
# (core, accepts an object such as "for your help")
THANKS_CORES: tuple[tuple[str, bool], ...] = (
    ("thanks", True), ("thank you", True), ("thx", True), ("ty", True),
    ("cheers", True), ("many thanks", True), ("thanks a lot", True),
    ("thank you so much", True), ("thanks very much", True),
    ("much appreciated", False), ("appreciate it", False), ("ta", False),
    ("thanks a million", True), ("you're a star, thanks", False),
)
THANKS_OBJECTS = (
    "", "", "", "for your help", "for the help", "for sorting that out",
    "for the quick reply", "for explaining", "for your patience",
)
THANKS_TAILS = ("", "", "!", " :)", ".", "!!", " 🙏")

# (core, accepts an opener such as "ok")
GOODBYE_CORES: tuple[tuple[str, bool], ...] = (
    ("bye", True), ("goodbye", True), ("bye bye", True), ("see you", True),
    ("see ya", True), ("cya", True), ("bye for now", True),
    ("talk later", True), ("take care", True), ("have a nice day", True),
    ("have a good evening", True), ("catch you later", True),
    ("farewell", False), ("logging off now", True), ("gotta go, bye", False),
    ("that's all, bye", False), ("I'm done here, bye", False),
    ("that's everything, goodbye", False), ("nothing else for now, bye", False),
    ("that's all I needed, see you", False), ("I'll leave it there, bye", False),
)
GOODBYE_OPENERS = ("", "", "ok", "okay", "right", "alright", "all good", "cool")
GOODBYE_TAILS = ("", "", "!", ".", " :)", " 👋")

INTENTS: tuple[str, ...] = (*INTENT_TEMPLATES, "greeting", "thanks", "goodbye")

# --------------------------------------------------------------------------- #
# FAQ knowledge base: (intent, question paraphrases, answer, tags, held-out queries)
#
# Answers are templates; slots in braces ({card_last4}, {amount}, {merchant},
# {order_number}, {transfer_reference}, {application_number}) are meant to be
# filled in by the caller (or left as-is in demos).
# --------------------------------------------------------------------------- #

FaqEntry = tuple[str, tuple[str, ...], str, tuple[str, ...], tuple[str, ...]]

FAQ: tuple[FaqEntry, ...] = (
    (
        "card_lost",
        ("What should I do if my card is lost or stolen?", "How do I report a lost card?",
         "My card has been stolen, what now?"),
        ("Freeze your card straight away in the app under Cards > Freeze, then tap "
         "'Report lost or stolen' to cancel it and order a replacement. If you see "
         "payments you don't recognise, tell us in the chat and we'll investigate."),
        ("cards", "security", "lost-stolen"),
        ("someone took my purse with my debit card inside",
         "can't find my card anywhere, how do I block it",
         "help, my visa got pinched at the station"),
    ),
    (
        "card_lost",
        ("Can I unfreeze my card if I find it again?",
         "I found my card after freezing it, can I still use it?"),
        ("Yes. If you froze card ending {card_last4} and haven't reported it stolen, "
         "you can unfreeze it instantly in the app under Cards. Once a card is "
         "reported lost or stolen it's cancelled for good and a replacement is sent."),
        ("cards", "freeze"),
        ("found my card in my coat pocket, how do I turn it back on",
         "is freezing a card permanent?",
         "I locked my card in the app but now I've got it back"),
    ),
    (
        "card_not_arrived",
        ("How long does a new card take to arrive?", "When will my card be delivered?"),
        ("New and replacement cards usually arrive within 3-5 working days. You can "
         "follow the delivery of order {order_number} in the app under Cards > Track delivery."),
        ("cards", "delivery"),
        ("how many days until my debit card comes",
         "what's the usual delivery time for a replacement card",
         "ordered a card on monday, when should I expect it"),
    ),
    (
        "card_not_arrived",
        ("My card hasn't arrived, what should I do?", "I never received my card"),
        ("If your card hasn't arrived after 7 working days, check your address in the "
         "app and tap 'Card not received'. We'll cancel the old card and send a new "
         "one free of charge; you can use your virtual card in the meantime."),
        ("cards", "delivery", "replacement"),
        ("it's been two weeks and still no card in the post",
         "card never came, can you send another one",
         "I think my replacement card got lost in the mail"),
    ),
    (
        "pin_blocked",
        ("How do I unblock my PIN?", "My PIN is locked after too many attempts"),
        ("For your security, your PIN locks after 3 incorrect attempts. Unblock it in "
         "the app under Cards > PIN & security, then use any ATM or make a chip-and-PIN "
         "payment to finish the reset."),
        ("cards", "pin", "security"),
        ("typed the wrong pin 3 times and now the card is locked",
         "how can I get my pin working again after it got blocked",
         "cash machine won't let me try my PIN any more"),
    ),
    (
        "pin_blocked",
        ("I forgot my PIN, how can I see it?", "Where can I view my PIN?"),
        ("You can view the PIN for card ending {card_last4} in the app under Cards > "
         "Show PIN after confirming it's you with your fingerprint or passcode. You can "
         "change it at any ATM that offers PIN services."),
        ("cards", "pin"),
        ("I can't remember my pin number",
         "is there a way to look up my PIN in the app",
         "what's my card pin? I've completely forgotten it"),
    ),
    (
        "card_declined",
        ("Why was my card declined?", "Why did my card payment not go through?"),
        ("Payments are usually declined because of insufficient funds, a frozen card, "
         "a wrong PIN or a spending limit. Open the {amount} payment to {merchant} in "
         "the Activity tab to see the exact decline reason."),
        ("cards", "payments", "declined"),
        ("card got refused at the supermarket even though I have money",
         "why won't my debit card work online",
         "the shop said my card was rejected, what's going on"),
    ),
    (
        "card_declined",
        ("Why doesn't my card work abroad?", "Can I use my card in other countries?"),
        ("Your Northwind card works anywhere Visa is accepted. If a payment abroad is "
         "declined, make sure 'Payments abroad' is switched on in Cards > Settings and "
         "that the card isn't frozen."),
        ("cards", "travel", "declined"),
        ("my card isn't working on holiday in italy",
         "will my northwind card work in the states",
         "payment declined in a restaurant in Lisbon, help"),
    ),
    (
        "transfer_failed",
        ("Why did my transfer fail?", "My bank transfer didn't go through"),
        ("Transfers can fail if the recipient's details are wrong, the receiving bank "
         "rejects the payment or it exceeds your daily limit. Returned money normally "
         "reappears within 2 working days; open transfer {transfer_reference} in the "
         "app to see the exact reason."),
        ("transfers", "payments"),
        ("money I sent to my landlord came back to me",
         "why was my payment to a friend rejected",
         "transfer shows as unsuccessful in the app"),
    ),
    (
        "transfer_failed",
        ("How long do transfers take?", "My transfer is still pending"),
        ("Transfers to UK accounts usually arrive within minutes, but some take up to "
         "2 hours. International transfers take 1-4 working days depending on the "
         "country and currency."),
        ("transfers", "timing", "international"),
        ("how long until my sister gets the money I sent",
         "my payment has said processing for hours",
         "how many days does an international transfer to poland take"),
    ),
    (
        "refund_status",
        ("How long does a refund take?", "When will my refund appear?"),
        ("Once a merchant issues a refund it usually appears within 3-5 working days, "
         "although some merchants take up to 10. Pending refunds show in your Activity "
         "tab as soon as we receive them."),
        ("refunds", "timing"),
        ("how many days before a refund hits my account",
         "when do I get money back after returning something online",
         "how quickly are refunds processed"),
    ),
    (
        "refund_status",
        ("The merchant says they refunded me but I can't see it",
         "My refund isn't showing in my account"),
        ("If it's been more than 10 working days since {merchant} issued your refund "
         "of {amount}, ask them for the refund reference (ARN) and send it to us in "
         "the chat so we can trace it."),
        ("refunds", "merchants"),
        ("the shop insists they sent my refund last week but nothing's here",
         "store says refund was issued, still not in my balance",
         "how do I trace a missing refund"),
    ),
    (
        "dispute_charge",
        ("How do I dispute a transaction?", "I don't recognise a payment on my account"),
        ("Tap the transaction in the app and choose 'Report a problem' > 'I don't "
         "recognise this'. We'll freeze your card if needed and aim to resolve "
         "disputes within 15 working days."),
        ("disputes", "security", "payments"),
        ("there's a payment to some company I've never heard of",
         "how do I report a transaction that wasn't me",
         "want to raise a chargeback on a purchase"),
    ),
    (
        "dispute_charge",
        ("I've been charged twice for the same thing", "There's a duplicate payment on my statement"),
        ("A payment sometimes shows twice while it's pending, and the duplicate drops "
         "off within 7 days. If both payments of {amount} have completed, raise a "
         "dispute from the transaction screen and we'll contact the merchant."),
        ("disputes", "payments", "duplicate"),
        ("the same coffee shop took money from me two times",
         "double charge on my account for one purchase",
         "why do I see the same payment listed twice"),
    ),
    (
        "change_address",
        ("How do I change my address?", "How can I update my home address?"),
        ("Go to Profile > Personal details > Address in the app and enter your new "
         "address. We may ask for a proof of address document dated within the last "
         "3 months."),
        ("profile", "address"),
        ("I've just moved house, where do I put my new address",
         "need to update my postcode in the app",
         "how do I edit my address details"),
    ),
    (
        "change_address",
        ("Will my card be sent to my new address?", "I moved before my card arrived"),
        ("Cards go to the address on your profile at the time of ordering. If you moved "
         "after placing order {order_number}, update your address and tap 'Card not "
         "received' after 7 working days so we can send a new card."),
        ("profile", "address", "cards"),
        ("my new card is going to my old flat, what do I do",
         "I changed address after ordering a card",
         "can you redirect my card to where I live now"),
    ),
    (
        "reset_password",
        ("How do I reset my password?", "I forgot my password"),
        ("On the login screen tap 'Forgot password?' and follow the link we email you. "
         "The link is valid for 30 minutes."),
        ("login", "password", "security"),
        ("can't remember my online banking password",
         "how do I get a new login password",
         "forgotten password, what now"),
    ),
    (
        "reset_password",
        ("My account is locked after too many login attempts", "I can't log in to online banking"),
        ("After 5 failed login attempts online banking is locked for 30 minutes to "
         "protect you. If you still can't get in afterwards, reset your password or "
         "ask for an agent so we can verify your identity."),
        ("login", "security"),
        ("the app locked me out after I got my password wrong",
         "unable to sign in, it says account temporarily locked",
         "keep getting login failed"),
    ),
    (
        "open_account",
        ("How do I open an account?", "What do I need to open an account?"),
        ("You can open a Northwind current account in the app in about 10 minutes. "
         "You'll need valid photo ID, to be 18 or over and to live in the UK."),
        ("accounts", "onboarding"),
        ("what documents do I need to join northwind",
         "how long does it take to sign up",
         "can I register for an account on my phone"),
    ),
    (
        "open_account",
        ("What types of account do you offer?", "Do you have savings or joint accounts?"),
        ("We offer current, joint, savings and business accounts. Open an extra account "
         "from the home screen by tapping 'Add account'."),
        ("accounts", "products"),
        ("can I open a joint account with my partner",
         "do you have a savings pot or account",
         "is there a business account option"),
    ),
    (
        "close_account",
        ("How do I close my account?", "I want to close my Northwind account"),
        ("Close your account in the app under Profile > Account settings > Close "
         "account. Move any remaining balance and cancel direct debits first; closure "
         "is usually completed within 2 working days."),
        ("accounts", "closure"),
        ("I'd like to shut my account down",
         "how to cancel my bank account with you",
         "want to leave northwind, how do I close everything"),
    ),
    (
        "close_account",
        ("What happens to my money when I close my account?",
         "Do I get my balance back when closing?"),
        ("Any remaining balance, such as {amount}, is sent to the account you nominate "
         "before closure. There is no charge for closing your account."),
        ("accounts", "closure", "balance"),
        ("if I close my account where does my money go",
         "is there a fee to close the account",
         "will you send my leftover balance to my other bank"),
    ),
    (
        "exchange_rate",
        ("What exchange rate do you use?", "How are card payments abroad converted?"),
        ("We use the Visa exchange rate for card payments with no markup on weekdays. "
         "A 0.5% markup applies at weekends, when currency markets are closed."),
        ("fx", "travel", "cards"),
        ("do you add anything on top of the visa rate",
         "what conversion rate applies when I spend in euros",
         "is it more expensive to pay abroad on a saturday"),
    ),
    (
        "exchange_rate",
        ("How do I check today's exchange rate?", "How much will I get in euros?"),
        ("Open Payments > Exchange in the app to see live rates for over 30 currencies, "
         "including exactly how much {amount} is worth before you confirm."),
        ("fx", "app"),
        ("where can I see live currency rates",
         "how many dollars is 200 pounds today",
         "check the pound to yen rate"),
    ),
    (
        "fees_question",
        ("Do you charge fees for using my card abroad?", "Are ATM withdrawals abroad free?"),
        ("Card payments abroad are free. Cash withdrawals are free up to £200 a month, "
         "after which a 2% fee applies."),
        ("fees", "travel", "atm"),
        ("is there a charge for taking out cash on holiday",
         "how much do you charge to use my card overseas",
         "are foreign cash machine withdrawals free"),
    ),
    (
        "fees_question",
        ("What are your account fees?", "Is there a monthly fee?"),
        ("The standard current account has no monthly fee. You can see every charge, "
         "including the {amount} fee for express card delivery, in the app under "
         "Profile > Fees and limits."),
        ("fees", "accounts"),
        ("does the current account cost anything each month",
         "where can I find a list of all your charges",
         "do I pay to have an account with you"),
    ),
    (
        "loan_application",
        ("How do I apply for a personal loan?", "Can I borrow money from Northwind?"),
        ("Check your personalised rate in the app under Borrow without affecting your "
         "credit score. Loans are available from £1,000 to £25,000 over 1 to 5 years."),
        ("loans", "borrowing"),
        ("I want to take out a loan for a new car",
         "how much can I borrow from you",
         "does checking my loan rate hurt my credit score"),
    ),
    (
        "loan_application",
        ("How long does a loan decision take?", "What's happening with my loan application?"),
        ("Most loan decisions are instant. If we need more information we'll contact "
         "you within 2 working days, and you can follow application "
         "{application_number} in the Borrow tab."),
        ("loans", "applications"),
        ("still waiting to hear back about my loan",
         "when will I know if my loan is approved",
         "check the progress of my loan request"),
    ),
    (
        "overdraft",
        ("How do I apply for an overdraft?", "Can I get an arranged overdraft?"),
        ("Apply for an arranged overdraft of up to £2,500 in the app under Borrow > "
         "Overdraft. We'll show you your limit and interest rate before you accept."),
        ("overdraft", "borrowing"),
        ("can I have a small overdraft on my account",
         "how do I raise my overdraft limit",
         "is it possible to add an overdraft in the app"),
    ),
    (
        "overdraft",
        ("How much does my overdraft cost?", "Why am I charged overdraft interest?"),
        ("Overdraft interest is charged daily at 39.9% EAR variable on the amount you "
         "use, and the first £50 is interest-free. Your interest of {amount} is shown in "
         "the app at least 14 days before it's taken."),
        ("overdraft", "fees", "interest"),
        ("what's the interest rate if I go overdrawn",
         "why did you take interest from my account this month",
         "is the overdraft free up to a certain amount"),
    ),
    (
        "direct_debit",
        ("How do I set up a direct debit?", "How do I move my direct debits to Northwind?"),
        ("Give the company your Northwind sort code and account number and they'll set "
         "up the direct debit. If you're switching banks, the Current Account Switch "
         "Service moves your direct debits automatically."),
        ("payments", "direct-debit", "switching"),
        ("how can my energy bill be paid automatically from this account",
         "switching from my old bank, will my bills move across",
         "setting up a new direct debit for my gym"),
    ),
    (
        "direct_debit",
        ("How do I cancel a direct debit?", "Can I stop a direct debit?"),
        ("Open Payments > Direct debits, choose the one to {merchant} and tap 'Cancel'. "
         "Let the company know too, so they can arrange another way to pay."),
        ("payments", "direct-debit"),
        ("I want to stop paying my old phone contract by direct debit",
         "remove a direct debit from my account",
         "how to cancel a recurring payment to a company"),
    ),
    (
        "speak_to_human",
        ("How can I speak to a person?", "Can I talk to a human agent?"),
        ("Type 'agent' at any time and we'll connect you to someone from our support "
         "team, available 24/7. You can also call the number on the back of your card."),
        ("support", "contact"),
        ("is there a real person I can chat to",
         "what's your customer service phone number",
         "I'd rather talk to a member of staff than a bot"),
    ),
    (
        "greeting",
        ("Hello", "Hi there"),
        "Hi, I'm the Northwind Bank assistant. How can I help you today?",
        ("smalltalk",),
        ("hey is anybody there", "good morning northwind", "hiya!"),
    ),
    (
        "thanks",
        ("Thank you", "Thanks for your help"),
        "You're welcome! Is there anything else I can help you with?",
        ("smalltalk",),
        ("cheers, that helped", "thx a lot", "brilliant, much appreciated"),
    ),
    (
        "goodbye",
        ("Bye", "That's all, goodbye"),
        "Thanks for chatting with Northwind Bank. Have a great day!",
        ("smalltalk",),
        ("ok that's everything, see ya", "I'm all done, bye for now", "nothing else, take care"),
    ),
)

OOS: tuple[str, ...] = (
    # weather
    "What's the weather like in Leeds tomorrow?",
    "Will it rain this weekend?",
    "Is it going to snow at Christmas?",
    "do I need an umbrella today",
    # food
    "How do I make banana bread?",
    "Give me a recipe for vegetarian lasagne",
    "how long should I boil an egg for",
    "What's the best way to cook rice?",
    "How many calories are in an avocado?",
    "Can you order me a pizza?",
    "Book me a table for two at an Italian restaurant",
    # sport
    "Who won the football last night?",
    "When does the Tour de France start?",
    "Where can I watch the cricket this afternoon?",
    "what's the score in the rugby",
    "Who is the best tennis player of all time?",
    # jokes / chit-chat / trivia
    "Tell me a joke",
    "Do you know any good puns?",
    "What's the meaning of life?",
    "Write me a poem about autumn",
    "What's the capital of Australia?",
    "How tall is Mount Everest?",
    "Translate 'thank you' into Japanese",
    "How do you say hello in French?",
    "What's 17 times 23?",
    "Can you help me with my maths homework?",
    "Recommend a good book to read on holiday",
    "What's a good film to watch tonight?",
    "Who's the prime minister?",
    "What's your favourite colour?",
    # assistant-style tasks
    "What time is it in New York?",
    "Set an alarm for 7am",
    "Play some relaxing music",
    "Is my flight to Rome delayed?",
    "How do I get to the airport from here?",
    "What are the opening hours of the post office?",
    "Remind me to call my mum at 6",
    "Send a text to my brother saying I'm running late",
    # household / misc
    "How do I fix a leaking tap?",
    "How do I train a puppy to sit?",
    "my washing machine is making a weird noise",
    "What's the best way to get red wine out of a carpet?",
    # in-domain-ish but unsupported
    "Can I buy bitcoin with you?",
    "Do you offer crypto trading?",
    "Can you recommend some stocks to invest in?",
    "Can I trade options in the app?",
    "Do you offer mortgages?",
    "Can I get a mortgage for a house in Spain?",
    "Do you sell travel insurance?",
    "Do you offer car insurance?",
    "What's the best pension for me?",
    "Can you help me file my tax return?",
    "Do you buy gold bars?",
    "Can I rent a safety deposit box?",
    "Will you exchange my old paper banknotes?",
    "Can I buy shares in Northwind Bank?",
    "Which bank has the best savings rate right now?",
    "Are you hiring? I'd like to work at Northwind",
    "What's your opinion on the stock market at the moment?",
    "Can you recommend a good accountant?",
    "Should I invest my savings in property?",
)

# fmt: on

# --------------------------------------------------------------------------- #
# Generation
# --------------------------------------------------------------------------- #

_SLOT_RE = re.compile(r"\{(\w+)\}")


def _key(text: str) -> str:
    """Normalised form used for de-duplication (case, punctuation and spacing ignored)."""
    return " ".join(re.sub(r"[^\w£€$]+", " ", text.lower()).split())


def _fill(template: str, rng: random.Random) -> str:
    """Replace ``{slot}`` markers; a slot used twice gets two different values."""
    used: dict[str, list[str]] = {}

    def pick(m: re.Match[str]) -> str:
        slot = m.group(1)
        taken = used.setdefault(slot, [])
        value = rng.choice([v for v in SLOTS[slot] if v not in taken])
        taken.append(value)
        return value

    return _SLOT_RE.sub(pick, template)


def _starts_with_i(text: str) -> bool:
    return re.match(r"I(\b|')", text) is not None


def _decap(text: str) -> str:
    """Lower-case the first letter when it follows a prefix (keeps "I", "PIN", ...)."""
    first = text.split(" ", 1)[0]
    if _starts_with_i(text) or (len(first) > 1 and first.isupper()) or not first[:1].isupper():
        return text
    return text[0].lower() + text[1:]


def _typo(text: str, rng: random.Random) -> str:
    """Introduce one realistic typo (known misspelling or swapped letters)."""
    words = list(re.finditer(r"[A-Za-z]+", text))
    known = [m for m in words if m.group().lower() in MISSPELLINGS]
    if known and rng.random() < 0.6:
        m = rng.choice(known)
        repl = MISSPELLINGS[m.group().lower()]
        if m.group()[0].isupper():
            repl = repl[0].upper() + repl[1:]
        return text[: m.start()] + repl + text[m.end() :]
    long_words = [m for m in words if len(m.group()) >= 5]
    if not long_words:
        return text
    m = rng.choice(long_words)
    w = m.group()
    i = rng.randrange(1, len(w) - 2)
    swapped = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    return text[: m.start()] + swapped + text[m.end() :]


def _vary_surface(text: str, rng: random.Random, typo_p: float = 0.08) -> str:
    """Casing, trailing punctuation and typo noise shared by all intents."""
    if rng.random() < typo_p:
        text = _typo(text, rng)
    r = rng.random()
    if r < 0.18:
        text = text.rstrip("?.!")
    elif r < 0.22 and text.endswith("?"):
        text += "??"
    if rng.random() < 0.25:
        text = text.lower()
    elif text[:1].islower():
        text = text[0].upper() + text[1:]
    return text


def _templated_utterance(template: str, rng: random.Random) -> str:
    if template.startswith("^"):
        return _vary_surface(template[1:], rng, typo_p=0.0)
    core = _fill(template, rng)
    prefix = _fill(rng.choice(PREFIXES), rng) if rng.random() < PREFIX_P else ""
    if _REPEATABLE_NOT & set(_key(prefix).split()) & set(_key(core).split()):
        prefix = ""
    suffix = ""
    if rng.random() < SUFFIX_P:
        pool = SUFFIXES + QUESTION_SUFFIXES if core.endswith("?") else SUFFIXES
        suffix = rng.choice(pool)
        if _REPEATABLE_NOT & set(_key(prefix + core).split()) & set(_key(suffix).split()):
            suffix = ""
    if prefix and not prefix.endswith(". ") and not template.startswith("{"):
        core = _decap(core)
    if suffix and core[-1] not in "?.!":
        core += "."
    return _vary_surface(prefix + core + suffix, rng)


def _greeting(rng: random.Random) -> str:
    text = f"{rng.choice(GREETING_BASES)} {rng.choice(GREETING_TARGETS)}".strip()
    return _vary_surface(text + rng.choice(GREETING_TAILS), rng, typo_p=0.0)


def _thanks(rng: random.Random) -> str:
    core, takes_object = rng.choice(THANKS_CORES)
    opener = rng.choice(THANKS_OPENERS)
    obj = rng.choice(THANKS_OBJECTS) if takes_object else ""
    text = ", ".join(p for p in (opener, " ".join(p for p in (core, obj) if p)) if p)
    return _vary_surface(text + rng.choice(THANKS_TAILS), rng, typo_p=0.04)


def _goodbye(rng: random.Random) -> str:
    core, takes_opener = rng.choice(GOODBYE_CORES)
    opener = rng.choice(GOODBYE_OPENERS) if takes_opener else ""
    text = f"{opener}, {core}" if opener else core
    return _vary_surface(text + rng.choice(GOODBYE_TAILS), rng, typo_p=0.0)


def _intent_utterances(intent: str, n: int, rng: random.Random, seen: set[str]) -> list[str]:
    """Return ``n`` utterances whose normalised keys are new to ``seen`` (updated)."""
    social = {"greeting": _greeting, "thanks": _thanks, "goodbye": _goodbye}
    templates = INTENT_TEMPLATES.get(intent, ())
    out: list[str] = []
    for attempt in range(200 * n):
        if intent in social:
            text = social[intent](rng)
        else:
            # round-robin over templates so every phrasing is represented
            text = _templated_utterance(templates[attempt % len(templates)], rng)
        k = _key(text)
        if k and k not in seen:
            seen.add(k)
            out.append(text)
            if len(out) == n:
                return out
    raise RuntimeError(f"could not generate {n} unique utterances for {intent!r}")


def build_samples(seed: int = SEED) -> dict[str, list[tuple[str, ...]]]:
    """Build all sample tables in memory (rows without headers)."""
    rng = random.Random(seed)

    # Reserve FAQ / OOS texts first so intent utterances never collide with them.
    seen: set[str] = {_key(t) for t in OOS}
    for _, questions, _, _, queries in FAQ:
        seen.update(_key(q) for q in (*questions, *queries))

    train: list[tuple[str, ...]] = []
    test: list[tuple[str, ...]] = []
    for intent in INTENTS:
        texts = _intent_utterances(intent, TRAIN_PER_INTENT + TEST_PER_INTENT, rng, seen)
        rng.shuffle(texts)
        train += [(t, intent) for t in texts[:TRAIN_PER_INTENT]]
        test += [(t, intent) for t in texts[TRAIN_PER_INTENT:]]
    rng.shuffle(train)
    rng.shuffle(test)

    faq: list[tuple[str, ...]] = []
    faq_queries: list[tuple[str, ...]] = []
    for i, (intent, questions, answer, tags, queries) in enumerate(FAQ, start=1):
        faq_id = f"faq-{i:03d}"
        faq.append(
            (faq_id, FAQ_QUESTION_SEP.join(questions), answer, intent, FAQ_TAG_SEP.join(tags))
        )
        faq_queries += [(q, faq_id) for q in queries]

    tables: dict[str, list[tuple[str, ...]]] = {
        "intents": train,
        "intents_test": test,
        "faq": faq,
        "oos": [(t,) for t in OOS],
        "faq_queries": faq_queries,
    }
    _validate(tables)
    return tables


def _validate(tables: dict[str, list[tuple[str, ...]]]) -> None:
    """Cheap invariants; raises ``ValueError`` if the hand-written data is inconsistent."""
    problems: list[str] = []
    keys: dict[str, str] = {}

    def claim(text: str, where: str) -> None:
        k = _key(text)
        if k in keys:
            problems.append(f"duplicate text {text!r} ({where} vs {keys[k]})")
        keys[k] = where

    for name in ("intents", "intents_test"):
        for text, intent in tables[name]:
            claim(text, name)
            if intent not in INTENTS:
                problems.append(f"unknown intent {intent!r}")
    for (text,) in tables["oos"]:
        claim(text, "oos")
    faq_ids = [row[0] for row in tables["faq"]]
    if len(set(faq_ids)) != len(faq_ids):
        problems.append("duplicate FAQ ids")
    for _, question, _, intent, _ in tables["faq"]:
        if intent not in INTENTS:
            problems.append(f"FAQ has unknown intent {intent!r}")
        for q in question.split(FAQ_QUESTION_SEP):
            claim(q, "faq question")
    for query, faq_id in tables["faq_queries"]:
        claim(query, "faq query")
        if faq_id not in faq_ids:
            problems.append(f"faq query refers to unknown id {faq_id!r}")
    if problems:
        raise ValueError("invalid sample data:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #


def _write_csv_atomic(path: Path, header: Sequence[str], rows: list[tuple[str, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def make_samples(out_dir: str | Path = HERE, force: bool = False) -> dict[str, Path]:
    """Write the sample CSVs under ``out_dir`` and return ``{name: path}`` for all of them.

    Existing files are left untouched unless ``force`` is true. Names are
    ``intents``, ``intents_test``, ``faq``, ``oos`` and ``faq_queries``.
    """
    out = Path(out_dir)
    paths = {name: out / rel for name, (rel, _) in FILES.items()}
    todo = [name for name, p in paths.items() if force or not p.exists()]
    if todo:
        tables = build_samples()
        for name in todo:
            _write_csv_atomic(paths[name], FILES[name][1], tables[name])
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=HERE, help="output folder (default: the folder of this script)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")
    args = parser.parse_args(argv)

    existing = {name for name, (rel, _) in FILES.items() if (args.out / rel).exists()}
    paths = make_samples(args.out, force=args.force)
    for name, path in paths.items():
        status = "kept" if name in existing and not args.force else "wrote"
        print(f"{status:5} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
