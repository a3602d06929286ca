from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "routing_service.chats"
    label = "chats"
    verbose_name = "Chats"
