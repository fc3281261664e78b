from django.urls import include, path

from ketaclinic.website import media, views
from ketaclinic.website.feeds import LatestPages, LatestPagesAtom

urlpatterns = [
    path("cms/", include("ketaclinic.website.cms")),
    path("comments/<int:page_id>/", views.comment_post, name="comment_post"),
    path("comments/delete/<str:secret>/", views.comment_delete, name="comment_delete"),
    path("comments/confirm/<str:secret>/", views.comment_confirm, name="comment_confirm"),
    # The website's images (MEDIA_URL): Wagtail's originals and renditions, nothing else.
    path(f"media/{media.ORIGINALS}/<str:name>", media.original_image, name="website_image"),
    path(f"media/{media.RENDITIONS}/<str:name>", media.rendition, name="website_rendition"),
    path("robots.txt", views.robots_txt, name="robots_txt"),
    path("sitemap.xml", views.sitemap, name="website_sitemap"),
    path("feed/rss/", LatestPages(), name="website_feed_rss"),
    path("feed/atom/", LatestPagesAtom(), name="website_feed_atom"),
    path("website/comments/", views.moderation_queue, name="website_moderation"),
    path(
        "website/comments/<int:comment_id>/reply/",
        views.reply_comment,
        name="website_comment_reply",
    ),
    path(
        "patients/<int:patient_id>/story-authorizations/",
        views.authorization_record,
        name="story_authorization_record",
    ),
    path(
        "story-authorizations/<int:authorization_id>/revoke/",
        views.authorization_revoke,
        name="story_authorization_revoke",
    ),
    path(
        "website/comments/<int:comment_id>/<str:decision>/",
        views.moderate_comment,
        name="website_comment_moderate",
    ),
]
