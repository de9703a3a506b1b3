"""Admin for projects and their members, scoped by membership through projects.access.

ProjectScopedAdmin is the base of every admin whose rows belong to a project (media_pipeline's too).

A staff user who is not a superuser sees only their projects and what belongs to them. An object in
another team's project is filtered out of the queryset, so its pages answer 404 exactly as for an id that
does not exist (Django's default, a redirect naming the id, is replaced by a plain 404 for both).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect

from projects import access, installed, services
from projects.models import Membership, Paper, Project
from projects.uploads import stored_upload_name


class ProjectScopedAdmin(admin.ModelAdmin):
    """Membership decides what a staff user sees and may change; Django's model permissions do not.

    `project_field` is the lookup path from the model to its Project ("" for Project itself).
    """

    project_field = "project"

    def _project_id_of(self, obj: Any) -> int:
        if not self.project_field:
            return int(obj.pk)
        target = obj
        for part in self.project_field.split("__"):
            target = getattr(target, part)
        return int(target.pk)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return access.visible_through_project(super().get_queryset(request), request.user, self.project_field or "pk")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # Django asks for the delete permission before it looks the object up; look it up first, so an
        # object the user cannot see answers 404 like a missing one rather than 403.
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404(f"No {self.opts.verbose_name} matches the given query.")
        return super().delete_view(request, object_id, extra_context)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> HttpResponseRedirect:
        # The same plain 404 for a missing id and for another team's object; nothing echoes the id.
        raise Http404(f"No {opts.verbose_name} matches the given query.")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.has_module_permission(request):
            return False
        return obj is None or access.can_view(request.user, self._project_id_of(obj))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.has_module_permission(request):
            return False
        if obj is None:
            return request.user.is_superuser or access.projects_editable_by(request.user).exists()
        return access.can_edit(request.user, self._project_id_of(obj))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Foreign-key choices are scoped too: nobody can attach an object to another team's project.
        if db_field.related_model is Project:
            kwargs["queryset"] = access.projects_editable_by(request.user)
        elif db_field.related_model is Paper:
            kwargs["queryset"] = access.papers_visible_to(request.user).filter(
                project__in=access.projects_editable_by(request.user)
            )
        elif db_field.related_model is get_user_model():
            kwargs["queryset"] = access.users_choosable_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class AccountField(forms.CharField):
    """A member's account, named exactly by its username or e-mail in a text box.

    It stands in for the foreign key's dropdown, which listed every account on the site to anyone who owns a
    project. The name is resolved by access.user_named (exact matches only); an existing member's row shows
    their username (`current`, set by MembershipForm) and keeps them as long as it is left as it is, even
    when their account has since been deactivated.
    """

    def __init__(self, chooser: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label", "User")
        kwargs.setdefault("help_text", "Their exact username, or their e-mail address if only one account has it.")
        super().__init__(max_length=254, **kwargs)
        self.chooser = chooser  # the person filling in the form: access decides whom they may name
        self.current: Any = None  # the existing membership's user

    def prepare_value(self, value: Any) -> Any:
        # An existing membership's initial value is its user's id (model_to_dict): show the username instead.
        if isinstance(value, int):
            return self.current.get_username() if self.current is not None and self.current.pk == value else ""
        return value

    def has_changed(self, initial: Any, data: Any) -> bool:
        return str(self.prepare_value(initial) or "") != str(data or "").strip()

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        if not text:
            return None
        if self.current is not None and text == self.current.get_username():
            return self.current
        account = access.user_named(self.chooser, text)
        if account is None:
            raise forms.ValidationError("No account with that username or e-mail.", code="no_account")
        return account


class MembershipForm(forms.ModelForm):
    """A membership whose user is named in an AccountField (see the admins' formfield_for_dbfield)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("user")
        if isinstance(field, AccountField) and self.instance.pk is not None:
            field.current = self.instance.user


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Django's own asks has_view_permission(request) with no project, which this inline answers no, and
        # so showed no existing members. Membership scopes the rows; the formset narrows them to the project.
        memberships = Membership.objects.select_related("user")
        return access.visible_through_project(memberships, request.user, "project_id")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            return AccountField(request.user)  # named exactly, never chosen from a list of every account
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def _owner(self, request: HttpRequest, obj: Any) -> bool:
        return obj is not None and access.can_manage_members(request.user, obj.pk)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._owner(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._owner(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._owner(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and access.can_view(request.user, obj.pk)


class ProjectForm(forms.ModelForm):
    """The admin builds the model form from this (its fields are the admin's).

    A project's piper voice and whisper model name one the operator installed (projects.installed): the
    workers' files are named only in the operator's settings, never by an editor.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offered = {
            "whisper_model": sorted(installed.whisper_model_choices()),
            "tts_voice": installed.piper_voice_choices() if settings.PAPERCAST_TTS_BACKEND == "piper" else [],
        }
        for name, choices in offered.items():
            if name in self.fields and choices:
                self.fields[name].help_text += f" Installed: {', '.join(choices)}."

    def clean_whisper_model(self) -> str:
        model = str(self.cleaned_data.get("whisper_model") or "")
        problem = installed.whisper_model_problem(model) if model else None
        if problem is not None:
            raise forms.ValidationError(problem, code="not_installed")
        return model

    def clean_tts_voice(self) -> str:
        voice = str(self.cleaned_data.get("tts_voice") or "")
        # espeak-ng and speech servers check their own voice names; piper's are files on the workers.
        if voice and settings.PAPERCAST_TTS_BACKEND == "piper":
            problem = installed.piper_voice_problem(voice)
            if problem is not None:
                raise forms.ValidationError(problem, code="not_installed")
        return voice

    def clean_music(self) -> Any:
        music = self.cleaned_data.get("music")
        if isinstance(music, UploadedFile):
            # The checks a paper's upload gets: the size limit, then an allowed audio format. A ValidationError
            # here fails the form, so the project is not saved and nothing is stored.
            services.check_upload_size(music.size, f"The background music {music.name!r}")
            # Stored under the suffix of its verified audio format, never the one the user gave.
            music.name = stored_upload_name("music", music, music.name or "")
        return music


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    project_field = ""
    form = ProjectForm
    list_display = ["name", "slug", "video_width", "video_height", "max_scene_seconds", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Creating a project makes its creator the owner; any staff user may start a team.
        return self.has_module_permission(request)

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            Membership.objects.get_or_create(project=obj, user=request.user, defaults={"role": "owner"})  # type: ignore[misc]
            messages.info(request, "You are the owner of the new project.")


@admin.register(Membership)
class MembershipAdmin(ProjectScopedAdmin):
    """Members are managed by their project's owners only; editors and viewers see who is in the team."""

    form = MembershipForm
    list_display = ["project", "user", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["project", "user"]
    search_fields = ["user__username", "project__name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.has_module_permission(request):
            return False
        if obj is None:
            return access.projects_managed_by(request.user).exists()
        return access.can_manage_members(request.user, obj.project_id)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            return AccountField(request.user)  # named exactly, never chosen from a list of every account
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Project:
            # An editor must not be able to add members (or make themselves owner) of their project.
            kwargs["queryset"] = access.projects_managed_by(request.user)
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)
