"""The demo clinic's public website, called by seed_demo (idempotent).

A home page, an article on what ketamine treatment involves (written for this project,
with its sources), two stories (one told by a patient, with her recorded authorization;
one told by a nurse), the team, the conditions treated, contact, the FAQ, a few approved
comments (one commenter with a confirmed address) and one awaiting moderation, the
article's picture, and the demo editor (user `editor`).
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.files.images import ImageFile
from django.utils import timezone
from wagtail.images import get_image_model
from wagtail.images.models import AbstractImage
from wagtail.models import Page, Site

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.services import add_staff
from ketaclinic.website import services
from ketaclinic.website.bootstrap import wagtail_root
from ketaclinic.website.models import (
    ArticlePage,
    Comment,
    HomePage,
    StandardPage,
    StoryAuthorization,
    StoryPage,
)

ARTICLE_BODY = """
<p>Ketamine has been used as an anaesthetic for more than fifty years. At much lower doses,
given slowly and under observation, it can ease depression that has not responded to
other treatments, sometimes within hours rather than weeks. This page explains what a
course of treatment at our clinic involves, who it may help, and what the risks are, so
that you can decide whether to ask us about it.</p>
<h2>It starts with a consultation</h2>
<p>Before any treatment, you meet one of our physicians. They go through your history: the
diagnosis, the medicines you have tried and for how long, your other medicines, your
blood pressure and heart health, and any past psychosis or substance use. You also fill
in short questionnaires, such as the PHQ-9 for depression, which we repeat during
treatment to see whether it is working. Some people are not suited to ketamine, and the
physician will say so and explain why. Nothing is decided until you have had time to ask
questions and to read and sign the consent form.</p>
<h2>Monitored sessions</h2>
<p>Ketamine is given in the clinic, never at home. For intravenous ketamine the most
studied dose is 0.5 mg per kg of body weight, infused over about 40 minutes; a first
course is usually six infusions over two to three weeks. Esketamine (Spravato) is a
nasal spray taken in the clinic under the supervision of our staff, twice a week at
first.</p>
<p>Throughout the session a nurse watches your blood pressure, heart rate and oxygen
level, and checks how alert you are. You stay in a quiet room until the effects have
worn off: at least two hours after esketamine, as its label requires. You cannot drive
until the next day after a night's sleep, so someone needs to take you home.</p>
<h2>Integration support</h2>
<p>Many people find that the weeks of a course are a chance to make changes. Our
therapists offer integration sessions, one to one or in small groups, to make sense of
what came up during treatment and to turn it into steps in daily life. Ketamine works
best as one part of a plan that includes your own doctor, therapy and, where it helps,
medicines.</p>
<h2>The conditions we treat</h2>
<ul>
<li>Depression that has not improved after at least two antidepressants
(treatment-resistant depression), and depression with suicidal thoughts, together with
other treatment.</li>
<li>The depressive phase of bipolar disorder, post-traumatic stress disorder, anxiety and
obsessive-compulsive disorder, after a specialist assessment: the evidence for these is
less settled than for depression, and we will tell you so.</li>
<li>Some chronic pain conditions, such as complex regional pain syndrome, where the
evidence is moderate, and fibromyalgia, where it is weak.</li>
</ul>
<h2>The risks</h2>
<ul>
<li><strong>Dissociation.</strong> Most people feel detached or dreamlike during a session,
as if watching themselves from outside; colours and sounds can seem different. It is
expected, passes within an hour or two, and a nurse is with you throughout.</li>
<li><strong>Nausea</strong>, sometimes vomiting. We advise not eating for a few hours
before a session, and can give medicine against nausea.</li>
<li><strong>Raised blood pressure.</strong> Blood pressure rises during treatment, usually
most about 40 minutes in, and settles afterwards. This is why we measure it before,
during and after every session, and why very high or uncontrolled blood pressure has to
be treated first.</li>
<li>Drowsiness, dizziness and headache on the day; rarely, bladder problems after long
or frequent use; and a risk of misuse, which is why ketamine is a controlled medicine
given only in the clinic.</li>
</ul>
<p>Ketamine is not a cure and it does not help everyone. If it helps you, the effect of a
course can fade, and some people go on to occasional maintenance sessions. Your
physician will go through what is known and what is not before you decide.</p>
<p>If you are thinking of ending your life, do not wait for an appointment: call or text
988 in the US, or go to your nearest emergency department.</p>
"""

ARTICLE_SOURCES = """
<ul>
<li>Sanacora G et al. A consensus statement on the use of ketamine in the treatment of mood
disorders. JAMA Psychiatry 2017;74(4):399&#8211;405.</li>
<li>Andrade C. Ketamine for depression, 4: in what dose, at what rate, by what route, for
how long, and at what frequency? J Clin Psychiatry 2017.</li>
<li>Fava M et al. Double-blind, placebo-controlled, dose-ranging trial of intravenous
ketamine as adjunctive therapy in treatment-resistant depression. Mol Psychiatry
2020;25:1592&#8211;1603.</li>
<li>SPRAVATO (esketamine) nasal spray, US prescribing information, Janssen; and the SPRAVATO
REMS programme.</li>
<li>Riva-Posse P et al. Blood pressure safety of subanesthetic ketamine for depression: a
report on 684 infusions. J Affect Disord 2018.</li>
<li>Cohen SP et al. Consensus guidelines on the use of intravenous ketamine infusions for
chronic pain from ASRA, AAPM and ASA. Reg Anesth Pain Med 2018;43(5):521&#8211;546.</li>
</ul>
"""

STORY_PATIENT = """
<p>For eleven years I tried one antidepressant after another. Some helped for a while; most
left me flat and tired. By last winter I had stopped seeing friends and was getting
through each day one hour at a time.</p>
<p>My psychiatrist suggested ketamine. I was nervous: I had read about people feeling
strange during the infusion. The first session was strange, a floating, faraway feeling,
but the nurse checked on me every few minutes and I never felt unsafe.</p>
<p>After the third infusion I noticed I had hummed while making coffee. It sounds small.
It was the first time in years. I still have hard days, and I still see my therapist
every week, but the fog has thinned, and I can plan further than tomorrow.</p>
<p><em>Shared with her written authorization. Her name has been changed. Individual
experiences differ, and ketamine does not help everyone.</em></p>
"""

STORY_NURSE = """
<p>People often arrive for their first session expecting something dramatic. Mostly,
it is quiet. We check blood pressure and heart rate, settle you in a reclining chair, and
dim the lights if you like. Many people bring music and an eye mask.</p>
<p>During the infusion I stay close, measuring your blood pressure every few minutes and
asking simple questions. Afterwards we sit together until you are steady on your feet
and your blood pressure has settled, and then whoever is driving you home collects you.</p>
<p>What stays with me is the second or third week, when someone says they slept through
the night, or went for a walk. Not everyone has that, and we are honest about it. But it
is why I do this work.</p>
<p><em>Told by one of our nurses, about the sessions she runs; no patient is described.</em></p>
"""

SECTIONS = [
    (
        "Our team",
        "our-team",
        "<p>Our physicians are board-certified psychiatrists and anaesthesiologists. Our "
        "nurses are trained in monitoring sedation and in the esketamine REMS programme, and "
        "our therapists lead integration sessions. Every session has a physician on site.</p>",
    ),
    (
        "Conditions we treat",
        "conditions",
        "<p>Treatment-resistant depression; depression with suicidal thoughts, alongside other "
        "care; the depressive phase of bipolar disorder; post-traumatic stress disorder; and "
        "some chronic pain conditions such as complex regional pain syndrome. A physician "
        "decides with you whether ketamine is suitable.</p>",
    ),
    (
        "Contact and location",
        "contact",
        "<p>200 Harbor Street, Suite 4, Portland, ME 04101. Telephone +1 207 555 0100, "
        "Monday to Friday, 8 am to 6 pm. Free parking behind the building; the entrance is "
        "step-free.</p><p>Please do not send health details through this website's "
        "comments: call us instead.</p>",
    ),
    (
        "Questions and answers",
        "faq",
        "<h2>Do I need a referral?</h2><p>Yes: a letter from your psychiatrist or family "
        "doctor helps us understand your history.</p><h2>Can I drive home?</h2><p>No. You "
        "cannot drive until the next day after a night's sleep.</p><h2>Is it covered by "
        "insurance?</h2><p>Esketamine often is; intravenous ketamine for depression often "
        "is not. We will give you a written estimate first.</p>",
    ),
]


def _publish(page: Page) -> None:
    page.save_revision().publish()


def _actor(clinic: Any, username: str) -> Actor:
    membership = Membership.objects.select_related("user", "clinic").get(
        clinic=clinic, user__username=username
    )
    return Actor(user=membership.user, membership=membership)


def _hero_image() -> AbstractImage:
    """The article's picture, drawn here (a calm harbour-blue band, no photograph): it
    shows the image library, its renditions and /media/ serving them (website/media.py)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (1200, 500), (222, 235, 243))
    draw = ImageDraw.Draw(picture)
    for i, colour in enumerate([(182, 211, 228), (128, 176, 204), (74, 131, 168)]):
        top = 250 + i * 80
        draw.rectangle((0, top, 1200, 500), fill=colour)
    draw.ellipse((880, 70, 1020, 210), fill=(250, 226, 170))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return get_image_model().objects.create(
        title="Harbor at morning (illustration)",
        description="An illustration: a pale sun over bands of calm blue water.",
        file=ImageFile(buffer, name="harbor-morning.png"),
    )


def _site_root(home: HomePage) -> None:
    base = urlparse(settings.KETACLINIC_BASE_URL or "http://localhost:8000")
    site = Site.objects.filter(is_default_site=True).first() or Site(is_default_site=True)
    site.root_page = home
    site.hostname = base.hostname or "localhost"
    site.port = base.port or (443 if base.scheme == "https" else 80)
    site.site_name = home.title
    site.save()


def seed(clinic: Any, patients: list[Any]) -> None:
    from ketaclinic.demo.management.commands.seed_demo import DEMO_PASSWORD

    add_staff(
        username="editor",
        clinic=clinic,
        role="editor",
        password=DEMO_PASSWORD,
        first_name="Robin",
        last_name="Hale",
        email="editor@harbor.example",
        check_password=False,
    )
    if HomePage.objects.filter(clinic=clinic).exists():
        return
    root = wagtail_root()
    home = root.add_child(
        instance=HomePage(
            title=clinic.name,
            slug=clinic.slug,
            clinic=clinic,
            intro=(
                "Ketamine and esketamine treatment for depression and chronic pain, given "
                "safely, explained plainly, and measured honestly."
            ),
            search_description="Ketamine treatment for depression and chronic pain in Portland, Maine.",
        )
    )
    _publish(home)
    # Wagtail's placeholder page ("Welcome to your new Wagtail site!") goes.
    for placeholder in Page.objects.filter(depth=2).exclude(pk=home.pk).specific():
        if type(placeholder) is Page:
            placeholder.delete()
    _site_root(home)
    today = clinic.today()

    for title, slug, body in SECTIONS:
        section = home.add_child(
            instance=StandardPage(title=title, slug=slug, body=body, show_in_menus=True)
        )
        _publish(section)

    article = home.add_child(
        instance=ArticlePage(
            title="What ketamine treatment involves",
            slug="what-ketamine-treatment-involves",
            author="Dr. Lena Chen, psychiatrist",
            published_on=today - timedelta(days=20),
            category="what-to-expect",
            summary=(
                "A consultation first, then monitored sessions and integration support: who "
                "ketamine may help, and its risks (dissociation, nausea, raised blood pressure)."
            ),
            search_description=(
                "What a course of ketamine treatment involves: consultation, monitored "
                "sessions, integration support, the conditions treated and the risks."
            ),
            body=ARTICLE_BODY,
            sources=ARTICLE_SOURCES,
            image=_hero_image(),
        )
    )
    _publish(article)

    physician = _actor(clinic, "dr.chen")
    authorization = services.record_authorization(
        actor=physician,
        patient=patients[0],
        scope=(
            "My account of my first course of infusions, under a changed first name, with no "
            "photograph and no detail that identifies me."
        ),
        signed_on=today - timedelta(days=30),
        expires_on=today + timedelta(days=335),
    )
    patient_story = home.add_child(
        instance=StoryPage(
            title="The morning I hummed making coffee",
            slug="the-morning-i-hummed",
            author="Anna (name changed)",
            published_on=today - timedelta(days=10),
            category="what-to-expect",
            summary="Eleven years of depression, and what changed during a first course of infusions.",
            body=STORY_PATIENT,
            from_a_patient=True,
            authorization=authorization,
        )
    )
    _publish(patient_story)
    nurse_story = home.add_child(
        instance=StoryPage(
            title="A nurse on what a first session is like",
            slug="a-nurse-on-a-first-session",
            author="Grace Okafor, RN",
            published_on=today - timedelta(days=5),
            category="safety",
            summary="What happens in the room, told by one of the nurses who runs the sessions.",
            body=STORY_NURSE,
            from_a_patient=False,
        )
    )
    _publish(nurse_story)

    editor = _actor(clinic, "editor")
    approved = [
        (
            article,
            "Dana",
            "dana@reader.example",
            "Thank you for listing the risks so plainly. "
            "My sister is considering this and the part about blood pressure helped.",
        ),
        (
            article,
            "Mark T.",
            "markt@reader.example",
            "Is the **nausea** worse on the first session than later ones?",
        ),
        (nurse_story, "Priya", "priya@reader.example", "Good to know someone stays in the room."),
    ]
    for page, name, email, text in approved:
        comment = Comment.objects.create(
            clinic=clinic,
            page=page,
            name=name,
            email=email,
            text=text,
            # Dana confirmed her address: with "Approve returning commenters automatically"
            # turned on in the home page's settings, her next comment appears at once.
            email_confirmed_at=timezone.now() if name == "Dana" else None,
        )
        services.moderate(actor=editor, comment=comment, status=Comment.Status.APPROVED)
        if name == "Mark T.":
            services.reply_as_clinic(
                actor=editor,
                comment=comment,
                text=(
                    "Thank you for asking. In general, nausea is most common in the first "
                    "sessions, and medicine against it can be given. A physician can talk "
                    "anyone through it: call us on +1 207 555 0100."
                ),
                privacy_checked=False,
            )
    Comment.objects.create(
        clinic=clinic,
        page=article,
        name="Sam",
        email="sam.pending@reader.example",
        text="How long does the effect of a course usually last?",
    )
    assert StoryAuthorization.objects.filter(clinic=clinic).exists()
