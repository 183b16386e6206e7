from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponseRedirect

from plumbing.forms import add_service_errors
from postmortems import services
from postmortems.models import ContributingFactor, PostMortem, PostMortemRevision, Remediation

# The admin keeps the rules the pages and the API keep (issue #14): a post-mortem's edit is a new
# version with its revision (postmortems.services.postmortem_save), revisions are never written
# here, a remediation is changed through the same services as on its page, and deleted only where
# services.remediation_delete_refusal allows it.


class RemediationAdminForm(forms.ModelForm):
    """Checked and saved by postmortems.services (remediation_create, remediation_update), as on the
    remediation pages: the publish rule, the owner rules and the time it was marked done."""

    class Meta:
        model = Remediation
        fields = ["postmortem", *services.REMEDIATION_EDITABLE]

    def changes(self) -> dict:
        names = self.changed_data if self.instance.pk else services.REMEDIATION_EDITABLE
        editable = set(services.REMEDIATION_EDITABLE)
        return {name: self.cleaned_data[name] for name in names if name in editable and name in self.cleaned_data}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            if self.instance.pk is None:
                postmortem = cleaned.get("postmortem") or self.instance.postmortem
                services.remediation_create_check(postmortem=postmortem, data=self.changes())
            elif self.changes():
                services.remediation_update_check(remediation=self.instance, changes=self.changes())
        except Remediation.DoesNotExist:
            raise ValidationError("This remediation was deleted meanwhile.") from None
        except ValidationError as error:
            add_service_errors(self, error)
        return cleaned


class RemediationInlineFormSet(forms.BaseInlineFormSet):
    """Rows whose deletion the rule refuses get no delete checkbox; one ticked anyway (a forged
    POST, or a row marked done since the page was opened) is an error on the form, not a deletion."""

    def _refusal(self, form) -> str | None:
        if form.instance.pk is None:
            return None
        return services.remediation_delete_refusal(remediation=form.instance, postmortem=self.instance)

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields and self._refusal(form):
            form.fields["DELETE"].widget = forms.HiddenInput()

    def clean(self):
        super().clean()
        for form in self.deleted_forms:
            refusal = self._refusal(form)
            if refusal:
                form.add_error(None, refusal)
                raise ValidationError(refusal)

    def delete_existing(self, obj, commit=True):
        if commit:
            services.remediation_delete(remediation=obj)

    def save_new(self, form, commit=True):
        return services.remediation_create(postmortem=self.instance, data=form.changes())

    def save_existing(self, form, obj, commit=True):
        changes = form.changes()
        return services.remediation_update(remediation=obj, changes=changes) if changes else obj


class RemediationInline(admin.TabularInline):
    model = Remediation
    form = RemediationAdminForm
    formset = RemediationInlineFormSet
    extra = 0
    raw_id_fields = ["owner"]
    fields = ["kind", "description", "owner", "owner_name", "due_date", "status", "wont_do_reason", "tracker_ref"]


class PostMortemAdminForm(forms.ModelForm):
    """Only what a person writes is edited here, on top of the version the page was opened on
    (`base_version`); saving is postmortems.services.postmortem_save, as on the editor page."""

    base_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    class Meta:
        model = PostMortem
        fields = services.POSTMORTEM_EDITABLE

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["base_version"].initial = self.instance.version

    def changes(self) -> dict:
        """The fields that differ from the current version (a save on top of a later version than
        the page's differs wherever that version changed something: a conflict, not a revert)."""
        editable = set(services.POSTMORTEM_EDITABLE)
        return {name: self.cleaned_data[name] for name in self.changed_data if name in editable}

    def clean(self):
        cleaned = super().clean()
        if self.errors or self.instance.pk is None or not self.changes():
            return cleaned
        try:
            services.postmortem_save_check(
                postmortem=self.instance, changes=self.changes(), base_version=cleaned["base_version"]
            )
        except services.EditConflict as conflict:
            # The page comes back with the text as typed, on top of the current version: saving it
            # again is then a choice made knowing, and the version it replaces stays in the history.
            current = conflict.current.version
            self.data = self.data.copy()
            self.data[self.add_prefix("base_version")] = str(current)
            raise ValidationError(
                f"{conflict} Saving this page again replaces version {current} with the text below "
                f"(version {current} stays in the history)."
            ) from None
        except ValidationError as error:
            add_service_errors(self, error)
        return cleaned


@admin.register(PostMortem)
class PostMortemAdmin(admin.ModelAdmin):
    form = PostMortemAdminForm
    list_display = ["incident", "status", "facilitator", "meeting_date", "version", "updated_at"]
    list_filter = ["status"]
    search_fields = ["incident__title", "summary"]
    # The status moves through the post-mortem's page or the API (the publish rule, published_at).
    readonly_fields = ["incident", "status", "version", "published_at", "created_at", "created_by"]
    readonly_fields += ["updated_at", "updated_by"]
    fields = ["incident", "status", "version", "base_version", *services.POSTMORTEM_EDITABLE]
    fields += ["published_at", "created_at", "created_by", "updated_at", "updated_by"]
    inlines = [RemediationInline]

    def has_add_permission(self, request):
        return False  # started from the incident's page or the API, which keep its first revision

    def save_model(self, request, obj, form, change):
        # The form's clean() checked this edit with the row locked, in this same transaction; with no
        # change to the post-mortem itself (an edit of its remediations only), there is no new version.
        if form.changes():
            services.postmortem_save(
                postmortem=obj, changes=form.changes(), base_version=form.cleaned_data["base_version"], by=request.user
            )

    def has_delete_permission(self, request, obj=None):
        # Never deleted (issue #7, data safety): a post-mortem is archived with its incident.
        return False


@admin.register(PostMortemRevision)
class PostMortemRevisionAdmin(admin.ModelAdmin):
    """Read-only: a revision is written by the save that made its version, and never changes."""

    list_display = ["postmortem", "version", "saved_at", "saved_by"]
    raw_id_fields = ["postmortem", "saved_by"]

    def has_add_permission(self, request):
        return False  # history is never forged

    def has_change_permission(self, request, obj=None):
        return False  # nor rewritten

    def has_delete_permission(self, request, obj=None):
        return False  # nor deleted


@admin.register(Remediation)
class RemediationAdmin(admin.ModelAdmin):
    list_display = ["description", "kind", "owner", "owner_name", "due_date", "status", "tracker_ref"]
    list_filter = ["kind", "status"]
    search_fields = ["description", "owner_name", "tracker_ref"]
    raw_id_fields = ["postmortem", "owner"]
    form = RemediationAdminForm

    def get_readonly_fields(self, request, obj=None):
        # Stamped by the services; and a remediation stays with the post-mortem it was made for.
        stamped = ["completed_at", "last_reminded_on", "created_at", "updated_at"]
        return ["postmortem", *stamped] if obj else stamped

    def save_model(self, request, obj, form, change):
        # The form's clean() checked these changes with the rows locked, in this same transaction.
        if not change:
            created = services.remediation_create(
                postmortem=form.cleaned_data["postmortem"], data=form.changes(), by=request.user
            )
            obj.pk = created.pk
            obj.refresh_from_db()
        elif form.changes():
            services.remediation_update(remediation=obj, changes=form.changes(), by=request.user)

    def get_deleted_objects(self, objs, request):
        # The delete page and the bulk action list the refused ones as protected, with the reason,
        # and then delete nothing.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for remediation in objs:
            refusal = services.remediation_delete_refusal(remediation=remediation, postmortem=remediation.postmortem)
            if refusal:
                protected.append(f"{remediation}: {refusal}")
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        services.remediation_delete(remediation=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for remediation in queryset:
            services.remediation_delete(remediation=remediation, by=request.user)


class ContributingFactorAdminForm(forms.ModelForm):
    class Meta:
        model = ContributingFactor
        fields = services.FACTOR_EDITABLE

    def clean_name(self):
        # Said against the field, instead of the constraint's generic message above the form.
        name = self.cleaned_data["name"]
        taken = services.factor_name_taken(name=name, factor=self.instance)
        if taken:
            raise ValidationError(taken)
        return name


@admin.register(ContributingFactor)
class ContributingFactorAdmin(admin.ModelAdmin):
    """The contributing-factor taxonomy. A factor in use is archived, never deleted: the delete page
    and the bulk delete action say so instead of failing on the protected links."""

    form = ContributingFactorAdminForm
    list_display = ["name", "slug", "position", "in_use", "archived"]
    list_editable = ["position"]
    list_filter = [("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug", "description"]
    fields = ["name", "slug", "description", "position", "archived_at", "created_at"]
    readonly_fields = ["archived_at", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["archive", "restore"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(in_use_count=Count("postmortem_links"))

    def get_readonly_fields(self, request, obj=None):
        # A factor's slug stays as it was made: revisions and links name it.
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else self.prepopulated_fields

    @admin.display(description="Post-mortems naming it", ordering="in_use_count")
    def in_use(self, factor):
        return factor.in_use_count

    @admin.display(description="Archived", boolean=True, ordering="archived_at")
    def archived(self, factor):
        return factor.is_archived

    @admin.action(description="Archive the selected factors (kept where named, no longer offered)")
    def archive(self, request, queryset):
        done = sum(services.factor_archive(factor=factor) for factor in queryset)
        self.message_user(request, f"{done} factor{'s' if done != 1 else ''} archived.", messages.SUCCESS)

    @admin.action(description="Restore the selected factors (offered again)")
    def restore(self, request, queryset):
        done = sum(services.factor_restore(factor=factor) for factor in queryset)
        self.message_user(request, f"{done} factor{'s' if done != 1 else ''} restored.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        # The form has checked the fields; the service saves them (the slug only when adding).
        fields = [name for name in services.FACTOR_EDITABLE if name in form.cleaned_data]
        saved = services.factor_save(factor=obj, data={name: form.cleaned_data[name] for name in fields})
        obj.pk = saved.pk

    def get_deleted_objects(self, objs, request):
        # The refusal, in words, instead of the list of every protected link.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        refusals = [refusal for factor in objs if (refusal := services.factor_delete_refusal(factor=factor))]
        if refusals:
            protected = refusals
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        services.factor_delete(factor=obj)

    # A post-mortem may name the factor between the confirmation page and the confirming POST: the
    # service's refusal then rolls the delete back, and the admin says why instead of failing.
    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as refusal:
            self.message_user(request, " ".join(refusal.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except ValidationError as refusal:
            self.message_user(request, " ".join(refusal.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request, queryset):
        for factor in queryset:
            services.factor_delete(factor=factor)
